---@mod backendai.launcher Session launcher, vfolder browser and lifetime countdowns.
---
--- `:BackendAI configure` asks (through `vim.ui.select`, so any picker plugin shows it) for
--- the image, the resource preset (with what is allocatable), the resource group and a
--- vfolder to mount, then stores the choice with `backendai.session.configure`; it applies
--- when the workspace's next session starts. `:BackendAI folders` opens a buffer listing
--- the user's vfolders: <CR> opens a folder or a file (as a `bai-vfolder://…` buffer), `-`
--- goes up, `u` uploads a local file here, `d` downloads the file under the cursor, `R`
--- refreshes. The statusline component shows the idle and lifetime countdowns the server
--- reports (refreshed every 30 s), and a warning is shown 5 minutes before either ends.

local lsp = require('backendai.lsp')
local status = require('backendai.status')

local M = {}
local api = vim.api

local WARN_BEFORE_S = 300
local POLL_MS = 30000

local function notify(msg, level)
  vim.notify('BackendAI: ' .. msg, level or vim.log.levels.INFO)
end

local function gib(bytes)
  local n = tonumber(bytes)
  if not n then
    return tostring(bytes)
  end
  return ('%.1f GiB'):format(n / 1073741824)
end

--- "cpu 2, mem 4.0 GiB" for a slot table.
function M.describe_slots(slots)
  local parts = {}
  local keys = vim.tbl_keys(slots or {})
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = slots[k]
    parts[#parts + 1] = k == 'mem' and ('mem ' .. gib(v)) or (k .. ' ' .. tostring(v))
  end
  return table.concat(parts, ', ')
end

local function select(items, prompt, format, cb)
  vim.ui.select(items, { prompt = prompt, format_item = format }, cb)
end

--- Ask for image, preset, resource group and mount; store the choice.
---@param bufnr integer
---@param on_done fun(err: any, result: table|nil)|nil
function M.configure(bufnr, on_done)
  local uri = vim.uri_from_bufnr(bufnr)
  local function done(err, result)
    if err then
      notify(lsp.error_message(err), vim.log.levels.ERROR)
    end
    if on_done then
      on_done(err, result)
    end
  end
  lsp.execute(bufnr, 'backendai.session.options', { uri = uri }, function(err, options)
    if err then
      return done(err)
    end
    vim.schedule(function()
      local choice = { uri = uri }
      select(options.images or {}, 'Backend.AI image', function(i)
        return i.ref
      end, function(image)
        if not image then
          return done('configure cancelled')
        end
        choice.image = image.ref
        select(options.presets or {}, 'Resource preset', function(p)
          return ('%s (%s)%s'):format(
            p.name,
            M.describe_slots(p.resources),
            p.allocatable and '' or ' — not allocatable now'
          )
        end, function(preset)
          if not preset then
            return done('configure cancelled')
          end
          choice.preset = preset.name
          local groups = options.resourceGroups or {}
          local function after_group(group)
            choice.resourceGroup = group
            local mounts = { '(no vfolder)' }
            for _, v in ipairs(options.vfolders or {}) do
              mounts[#mounts + 1] = v.name
            end
            select(mounts, 'Mount a vfolder', nil, function(mount)
              if not mount then
                return done('configure cancelled')
              end
              choice.mounts = mount == '(no vfolder)' and {} or { mount }
              lsp.execute(bufnr, 'backendai.session.configure', choice, function(e, result)
                if not e and type(result) == 'table' then
                  notify(result.message or 'saved')
                end
                done(e, result)
              end)
            end)
          end
          if #groups <= 1 then
            after_group(groups[1])
          else
            select(groups, 'Resource group', nil, function(group)
              if not group then
                return done('configure cancelled')
              end
              after_group(group)
            end)
          end
        end)
      end)
    end)
  end)
end

-- ---------------------------------------------------------------------------- folders

---@class backendai.FolderView
---@field buf integer
---@field source integer the buffer whose server answers
---@field name string|nil vfolder shown (nil: the list of vfolders)
---@field path string path inside it
---@field entries table[] one per line after the header

---@type table<integer, backendai.FolderView>
M.views = {}

local function render(view, header, entries)
  view.entries = entries
  local lines = { header }
  for _, e in ipairs(entries) do
    lines[#lines + 1] = e.line
  end
  vim.bo[view.buf].modifiable = true
  api.nvim_buf_set_lines(view.buf, 0, -1, false, lines)
  vim.bo[view.buf].modifiable = false
  vim.bo[view.buf].modified = false
  pcall(api.nvim_exec_autocmds, 'User', { pattern = 'BackendAIFolders', modeline = false })
end

--- Show the vfolder list, or the files of `view.name`/`view.path`.
function M.refresh(view, cb)
  local function finish(err)
    if err then
      notify(lsp.error_message(err), vim.log.levels.ERROR)
    end
    if cb then
      cb(err)
    end
  end
  if not view.name then
    lsp.execute(view.source, 'backendai.vfolders.list', vim.empty_dict(), function(err, result)
      if err then
        return finish(err)
      end
      local entries = {}
      for _, v in ipairs(result.vfolders or {}) do
        entries[#entries + 1] = { line = v.name .. '/', kind = 'vfolder', name = v.name }
      end
      render(view, 'Backend.AI vfolders  (<CR> open, R refresh)', entries)
      finish()
    end)
    return
  end
  lsp.execute(
    view.source,
    'backendai.vfolders.files',
    { name = view.name, path = view.path },
    function(err, result)
      if err then
        return finish(err)
      end
      local entries = {}
      for _, f in ipairs(result.files or {}) do
        local dir = f.type == 'directory'
        entries[#entries + 1] = {
          line = dir and (f.name .. '/') or ('%-40s %10d'):format(f.name, f.size or 0),
          kind = dir and 'directory' or 'file',
          name = f.name,
          uri = f.uri,
        }
      end
      local where = view.path ~= '' and (view.name .. '/' .. view.path) or view.name
      render(view, where .. '/  (<CR> open, - up, u upload, d download, R refresh)', entries)
      finish()
    end
  )
end

local function join(path, name)
  return path == '' and name or (path .. '/' .. name)
end

--- The entry under the cursor.
function M.entry(view)
  local row = api.nvim_win_get_cursor(0)[1]
  return view.entries[row - 1]
end

function M.open_entry(view, entry, cb)
  if not entry then
    return
  end
  if entry.kind == 'vfolder' then
    view.name, view.path = entry.name, ''
    return M.refresh(view, cb)
  end
  if entry.kind == 'directory' then
    view.path = join(view.path, entry.name)
    return M.refresh(view, cb)
  end
  M.source_of_uri = M.source_of_uri or {}
  M.source_of_uri[entry.uri] = view.source
  vim.cmd('edit ' .. vim.fn.fnameescape(entry.uri))
  if cb then
    cb()
  end
end

function M.up(view, cb)
  if not view.name then
    return
  end
  if view.path == '' then
    view.name = nil
  else
    view.path = view.path:match('^(.*)/[^/]*$') or ''
  end
  M.refresh(view, cb)
end

function M.upload(view, local_path, cb)
  local name = vim.fn.fnamemodify(local_path, ':t')
  lsp.execute(view.source, 'backendai.vfolders.upload', {
    name = view.name,
    path = join(view.path, name),
    localPath = vim.fn.fnamemodify(local_path, ':p'),
  }, function(err, result)
    if err then
      notify(lsp.error_message(err), vim.log.levels.ERROR)
      return cb and cb(err)
    end
    notify(('uploaded %s (%d bytes)'):format(result.path, result.bytes or 0))
    M.refresh(view, cb)
  end)
end

function M.download(view, entry, local_path, cb)
  lsp.execute(view.source, 'backendai.vfolders.download', {
    name = view.name,
    path = join(view.path, entry.name),
    localPath = vim.fn.fnamemodify(local_path, ':p'),
  }, function(err, result)
    if err then
      notify(lsp.error_message(err), vim.log.levels.ERROR)
    else
      notify(('downloaded %s to %s'):format(result.path, result.localPath))
    end
    if cb then
      cb(err, result)
    end
  end)
end

--- Open the vfolder browser buffer for the server of `source`.
---@param source integer
---@return backendai.FolderView
function M.folders(source, cb)
  local buf = api.nvim_create_buf(true, true)
  api.nvim_buf_set_name(buf, 'backendai://folders/' .. buf)
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].filetype = 'backendai-folders'
  local view = { buf = buf, source = source, name = nil, path = '', entries = {} }
  M.views[buf] = view
  local function map(lhs, fn)
    vim.keymap.set('n', lhs, fn, { buffer = buf, nowait = true })
  end
  map('<CR>', function()
    M.open_entry(view, M.entry(view))
  end)
  map('-', function()
    M.up(view)
  end)
  map('R', function()
    M.refresh(view)
  end)
  map('u', function()
    if not view.name then
      return notify('open a vfolder first', vim.log.levels.WARN)
    end
    vim.ui.input({ prompt = 'Upload local file: ', completion = 'file' }, function(path)
      if path and path ~= '' then
        M.upload(view, path)
      end
    end)
  end)
  map('d', function()
    local entry = M.entry(view)
    if not entry or entry.kind ~= 'file' then
      return notify('put the cursor on a file', vim.log.levels.WARN)
    end
    vim.ui.input({ prompt = 'Download to: ', default = entry.name, completion = 'file' }, function(p)
      if p and p ~= '' then
        M.download(view, entry, p)
      end
    end)
  end)
  api.nvim_set_current_buf(buf)
  M.refresh(view, cb)
  return view
end

--- `bai-vfolder://name/path` buffers read their text through backendai.vfolders.read.
function M.read_cmd(ev)
  local buf = ev.buf
  local uri = ev.match
  local source = (M.source_of_uri or {})[uri] or vim.fn.bufnr('#')
  vim.bo[buf].buftype = 'nofile'
  lsp.execute(source, 'backendai.vfolders.read', { uri = uri }, function(err, result)
    if err then
      notify(lsp.error_message(err), vim.log.levels.ERROR)
      return
    end
    local text = result.encoding == 'utf-8' and result.text or ('(binary, %d bytes)'):format(result.size or 0)
    local lines = vim.split(text, '\n', { plain = true })
    if lines[#lines] == '' then
      table.remove(lines)
    end
    api.nvim_buf_set_lines(buf, 0, -1, false, lines)
    vim.bo[buf].modified = false
    vim.bo[buf].modifiable = false
    vim.b[buf].backendai_vfolder = uri
    pcall(api.nvim_exec_autocmds, 'User', { pattern = 'BackendAIVfolderRead', modeline = false })
  end)
end

-- ---------------------------------------------------------------------------- countdowns

---@type table<string, {idle: number|nil, lifetime: number|nil, at: integer, warned: table}>
M.clocks = {}

--- Seconds left of `kind` ("idle"/"lifetime") for a workspace, counted down locally since
--- the server's last answer.
function M.remaining(workspace, kind)
  local c = M.clocks[workspace]
  if not c or c[kind] == nil then
    return nil
  end
  return math.max(0, c[kind] - (vim.uv.now() - c.at) / 1000)
end

local function clock_text(seconds)
  seconds = math.floor(seconds)
  if seconds >= 3600 then
    return ('%d:%02d:%02d'):format(math.floor(seconds / 3600), math.floor((seconds % 3600) / 60), seconds % 60)
  end
  return ('%d:%02d'):format(math.floor(seconds / 60), seconds % 60)
end

--- " idle 9:41 · life 1:59:00" for the statusline ("" when the server reports none).
function M.countdown_text(workspace)
  local parts = {}
  local idle = M.remaining(workspace, 'idle')
  local life = M.remaining(workspace, 'lifetime')
  if idle then
    parts[#parts + 1] = 'idle ' .. clock_text(idle)
  end
  if life then
    parts[#parts + 1] = 'life ' .. clock_text(life)
  end
  return #parts > 0 and (' ' .. table.concat(parts, ' · ')) or ''
end

--- Record a status answer; warn once when a countdown is under 5 minutes.
function M.record(result)
  if type(result) ~= 'table' or type(result.workspace) ~= 'string' then
    return
  end
  local c = M.clocks[result.workspace] or { warned = {} }
  c.idle = tonumber(result.idleRemainingSeconds)
  c.lifetime = tonumber(result.lifetimeRemainingSeconds)
  c.at = vim.uv.now()
  M.clocks[result.workspace] = c
  for kind, left in pairs({ idle = c.idle, lifetime = c.lifetime }) do
    if left and left <= WARN_BEFORE_S and not c.warned[kind] then
      c.warned[kind] = true
      local what = kind == 'idle' and 'idle for too long' or 'at its maximum lifetime'
      notify(
        ('session %s ends in %s (%s)'):format(result.sessionName or '?', clock_text(left), what),
        vim.log.levels.WARN
      )
    elseif left and left > WARN_BEFORE_S then
      c.warned[kind] = nil
    end
  end
  pcall(api.nvim_exec_autocmds, 'User', { pattern = 'BackendAIStatus', modeline = false })
end

--- Ask the server for the buffer's session status now (feeds the countdowns).
function M.poll(bufnr, cb)
  lsp.execute(bufnr, 'backendai.session.status', { uri = vim.uri_from_bufnr(bufnr) }, function(err, result)
    if not err then
      M.record(result)
    end
    if cb then
      cb(err, result)
    end
  end)
end

local timer
--- Poll the current buffer's session every 30 s while a backendai server serves it.
function M.start_polling()
  if timer then
    return
  end
  timer = vim.uv.new_timer()
  timer:start(POLL_MS, POLL_MS, vim.schedule_wrap(function()
    local buf = api.nvim_get_current_buf()
    local st = status.get(buf)
    if st and st.status ~= 'none' and st.status ~= 'terminated' then
      M.poll(buf)
    end
  end))
end

return M
