---@mod backendai.config Options of the Backend.AI plugin and their validation.
---
--- One table of defaults; `setup()` merges the user's table over it after checking every
--- key, so a typo or a wrong type is reported by name instead of surfacing later as a
--- confusing runtime error.

local M = {}

---@alias backendai.OutputPosition 'below'|'above'|'right'|'left'|'tab'

---@class backendai.OutputOptions
---@field position backendai.OutputPosition where the output split opens
---@field size integer height (below/above) or width (right/left) of the split; 0 = Vim's default
---@field focus boolean move the cursor into the output window when it opens
---@field auto_open boolean open the output window when a run starts
---@field max_lines integer older lines are dropped past this many
---@field clear boolean clear the output buffer before each run

---@class backendai.MediaOptions
---@field dir string|nil folder for images and HTML a run produces (default: stdpath('cache')/backendai/media)
---@field open boolean open each saved file with vim.ui.open()

---@class backendai.StatuslineOptions
---@field prefix string text before the status
---@field labels table<string, string> status → shown text (idle, busy, waiting-input, starting, terminated, error)

---@class backendai.NotifyOptions
---@field long_run_ms integer notify when a run that took at least this long finishes (0 = never)

---@class backendai.Options
---@field cmd string[] the server command
---@field cmd_env table<string, string>|nil extra environment for the server
---@field filetypes string[] filetypes the server attaches to automatically (with autostart)
---@field root_markers string[] files or folders that mark a workspace folder
---@field autostart boolean start the server when a buffer of one of `filetypes` opens
---@field settings table the `backendai` settings sent to the server (docs/configuration.md)
---@field output backendai.OutputOptions
---@field media backendai.MediaOptions
---@field statusline backendai.StatuslineOptions
---@field notify backendai.NotifyOptions

---@type backendai.Options
M.defaults = {
  cmd = { 'bai-lsp' },
  cmd_env = nil,
  filetypes = { 'python', 'sh', 'bash', 'c', 'cpp', 'javascript', 'r', 'julia' },
  root_markers = { '.git', '.hg', 'pyproject.toml', 'setup.py', 'setup.cfg', 'package.json' },
  autostart = false,
  settings = {},
  output = {
    position = 'below',
    size = 12,
    focus = false,
    auto_open = true,
    max_lines = 10000,
    clear = false,
  },
  media = {
    dir = nil,
    open = false,
  },
  statusline = {
    prefix = 'BAI',
    labels = {
      idle = 'idle',
      busy = 'busy',
      ['waiting-input'] = 'input?',
      starting = 'starting',
      terminated = 'terminated',
      error = 'error',
    },
  },
  notify = {
    long_run_ms = 10000,
  },
}

local POSITIONS = { below = true, above = true, right = true, left = true, tab = true }

local function is_list_of_strings(v, allow_empty)
  if type(v) ~= 'table' or (not allow_empty and #v == 0) then
    return false
  end
  for k, item in pairs(v) do
    if type(k) ~= 'number' or type(item) ~= 'string' or item == '' then
      return false
    end
  end
  return true
end

local function is_string_map(v)
  if type(v) ~= 'table' then
    return false
  end
  for k, item in pairs(v) do
    if type(k) ~= 'string' or type(item) ~= 'string' then
      return false
    end
  end
  return true
end

local function int_at_least(min)
  return function(v)
    return type(v) == 'number' and v == math.floor(v) and v >= min
  end
end

--- Leaf checks: key path → {validator, optional, expectation}. Validators are what
--- vim.validate accepts (a type name or a predicate).
local LEAVES = {
  ['cmd'] = {
    function(v)
      return is_list_of_strings(v, false)
    end,
    false,
    'a non-empty list of strings, e.g. { "bai-lsp" }',
  },
  ['cmd_env'] = { is_string_map, true, 'a table of string → string' },
  ['filetypes'] = {
    function(v)
      return is_list_of_strings(v, true)
    end,
    false,
    'a list of filetype names',
  },
  ['root_markers'] = {
    function(v)
      return is_list_of_strings(v, true)
    end,
    false,
    'a list of file or folder names',
  },
  ['autostart'] = { 'boolean', false },
  ['settings'] = { 'table', false },
  ['output.position'] = {
    function(v)
      return POSITIONS[v] == true
    end,
    false,
    'one of "below", "above", "right", "left", "tab"',
  },
  ['output.size'] = { int_at_least(0), false, 'an integer >= 0' },
  ['output.focus'] = { 'boolean', false },
  ['output.auto_open'] = { 'boolean', false },
  ['output.max_lines'] = { int_at_least(1), false, 'an integer >= 1' },
  ['output.clear'] = { 'boolean', false },
  ['media.dir'] = { 'string', true },
  ['media.open'] = { 'boolean', false },
  ['statusline.prefix'] = { 'string', false },
  ['statusline.labels'] = { is_string_map, false, 'a table of status → text' },
  ['notify.long_run_ms'] = { int_at_least(0), false, 'an integer >= 0 (milliseconds)' },
}

--- Groups whose keys are checked one by one (anything else under them is unknown).
local GROUPS = { output = true, media = true, statusline = true, notify = true }

local has_011 = vim.fn.has('nvim-0.11') == 1

--- vim.validate in its 0.11 form where available, its table form on 0.10.
local function validate(name, value, validator, optional, message)
  if has_011 then
    vim.validate(name, value, validator, optional, message)
  elseif message then
    vim.validate({
      [name] = {
        value,
        function(v)
          if v == nil then
            return optional
          end
          return type(validator) == 'function' and validator(v) or type(v) == validator
        end,
        message,
      },
    })
  else
    vim.validate({ [name] = { value, validator, optional } })
  end
end

--- Drop the "file:line: " vim.validate puts in front of its message.
local function clean(msg)
  msg = tostring(msg)
  return (msg:gsub('^[^\n]-%.lua:%d+: ', ''))
end

local function check_leaf(path, value)
  local spec = LEAVES[path]
  local ok, err = pcall(validate, path, value, spec[1], spec[2], spec[3])
  if not ok then
    return clean(err)
  end
end

--- Check a user's options table without merging it.
---@param opts table|nil
---@return string|nil error naming the first bad key, nil when everything is fine
function M.check(opts)
  if opts == nil then
    return nil
  end
  if type(opts) ~= 'table' then
    return ('expected a table of options, got %s'):format(type(opts))
  end
  local keys = vim.tbl_keys(opts)
  table.sort(keys, function(a, b)
    return tostring(a) < tostring(b)
  end)
  for _, key in ipairs(keys) do
    local value = opts[key]
    if type(key) ~= 'string' then
      return ('unknown option %s'):format(vim.inspect(key))
    elseif GROUPS[key] then
      if type(value) ~= 'table' then
        return ('%s: expected a table, got %s'):format(key, type(value))
      end
      local sub = vim.tbl_keys(value)
      table.sort(sub, function(a, b)
        return tostring(a) < tostring(b)
      end)
      for _, k in ipairs(sub) do
        local path = key .. '.' .. tostring(k)
        if LEAVES[path] == nil then
          return ('unknown option %q'):format(path)
        end
        local err = check_leaf(path, value[k])
        if err then
          return err
        end
      end
    elseif LEAVES[key] == nil then
      return ('unknown option %q'):format(key)
    else
      local err = check_leaf(key, value)
      if err then
        return err
      end
    end
  end
  return nil
end

--- Check the user's options and merge them over the defaults.
---@param opts table|nil
---@return backendai.Options|nil merged, string|nil error
function M.resolve(opts)
  local err = M.check(opts)
  if err then
    return nil, err
  end
  local merged = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts or {})
  -- lists replace, they do not merge index by index
  for _, key in ipairs({ 'cmd', 'filetypes', 'root_markers' }) do
    if opts and opts[key] then
      merged[key] = vim.deepcopy(opts[key])
    end
  end
  if opts and opts.settings then
    merged.settings = vim.deepcopy(opts.settings)
  end
  return merged, nil
end

---@type backendai.Options
M.current = vim.deepcopy(M.defaults)

---@return string the folder media files are written to
function M.media_dir()
  return M.current.media.dir or (vim.fn.stdpath('cache') .. '/backendai/media')
end

return M
