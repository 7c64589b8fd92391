---@mod backendai.install Install bai-lsp into a private venv, offline, from wheels.
---
--- `:BackendAI install [path]` creates `stdpath('data')/backendai/venv` with a Python ≥ 3.11
--- and installs bai-lsp from wheels only (pip --no-index): the `wheels/` folder the release's
--- plugin archive carries, or the folder / `.whl` file given. With the default `cmd`, the
--- plugin then starts that server. Also: the protocol version check on connect.

local M = {}

local version = require('backendai.version')

local function is_windows()
  return vim.fn.has('win32') == 1
end

--- The venv folder.
function M.venv()
  return vim.fs.joinpath(vim.fn.stdpath('data'), 'backendai', 'venv')
end

--- The installed bai-lsp, or nil.
---@return string|nil
function M.server()
  local exe = vim.fs.joinpath(M.venv(), is_windows() and 'Scripts/bai-lsp.exe' or 'bin/bai-lsp')
  return vim.fn.executable(exe) == 1 and exe or nil
end

--- The wheels shipped next to the plugin (release archive), or nil.
function M.bundled_wheels()
  local here = debug.getinfo(1, 'S').source:sub(2)
  local root = vim.fs.dirname(vim.fs.dirname(vim.fs.dirname(here)))
  local dir = vim.fs.joinpath(root, 'wheels')
  return vim.fn.isdirectory(dir) == 1 and dir or nil
end

--- The command to start: `cmd` as configured, except that the default `{ 'bai-lsp' }` means the
--- installed server when there is one.
---@param cmd string[]
---@return string[]
function M.resolve_cmd(cmd)
  if #cmd == 1 and cmd[1] == 'bai-lsp' then
    local installed = M.server()
    if installed then
      return { installed }
    end
  end
  return cmd
end

local function run(args)
  local ok, res = pcall(function()
    return vim.system(args, { text = true }):wait(600000)
  end)
  if not ok then
    return { code = -1, stdout = '', stderr = tostring(res) }
  end
  return res
end

--- A Python ≥ 3.11: { path, major, minor }, or nil and what was found.
---@param python string|nil
function M.find_python(python)
  local seen = {}
  local candidates = python and { python } or { 'python3.13', 'python3.12', 'python3.11', 'python3' }
  for _, name in ipairs(candidates) do
    local path = vim.fn.exepath(name)
    if path ~= '' then
      local res = run({ path, '-c', 'import sys; print(*sys.version_info[:2])' })
      local major, minor = (res.stdout or ''):match('^(%d+) (%d+)')
      if major then
        major, minor = tonumber(major), tonumber(minor)
        table.insert(seen, ('%s is %d.%d'):format(path, major, minor))
        if major > 3 or (major == 3 and minor >= 11) then
          return { path = path, major = major, minor = minor }
        end
      end
    end
  end
  if #seen > 0 then
    return nil, table.concat(seen, ', ')
  end
  return nil, python and ('%s was not found'):format(python) or 'no python3.13, python3.12, python3.11 or python3 on $PATH'
end

--- Install bai-lsp; returns the server path, or nil and an error message. Synchronous (it
--- reports each step with vim.notify); a fresh venv every time.
---@param source string|nil a folder of wheels or a bai-lsp .whl (default: the bundled wheels)
---@param opts { python: string|nil }|nil
---@return string|nil, string|nil
function M.install(source, opts)
  opts = opts or {}
  source = source and vim.fn.fnamemodify(vim.fn.expand(source), ':p') or M.bundled_wheels()
  if not source then
    return nil,
      'no wheels: give the release\'s wheels/ folder or a bai-lsp .whl (":BackendAI install /path/to/wheels")'
  end
  local dir, requirement
  if vim.fn.isdirectory(source) == 1 then
    dir, requirement = source, 'bai-lsp'
  elseif vim.fn.filereadable(source) == 1 and source:match('%.whl$') then
    dir, requirement = vim.fs.dirname(source), source
  else
    return nil, ('%s is neither a folder of wheels nor a .whl file'):format(source)
  end
  local python, seen = M.find_python(opts.python)
  if not python then
    return nil,
      ('installing bai-lsp needs Python 3.11 or newer; %s. Install it (e.g. apt install python3.11) or pass { python = "/path/to/python3.11" }'):format(
        seen
      )
  end
  local venv = M.venv()
  vim.notify(
    ('BackendAI: creating a venv in %s with %s (Python %d.%d)…'):format(venv, python.path, python.major, python.minor),
    vim.log.levels.INFO
  )
  vim.fn.delete(venv, 'rf')
  vim.fn.mkdir(vim.fs.dirname(venv), 'p')
  local pip_wheel = vim.fn.glob(vim.fs.joinpath(dir, 'pip-*.whl'), true, true)[1]
  -- --without-pip + the pip wheel: works where ensurepip is missing (Debian's python3-venv)
  local args = { python.path, '-m', 'venv' }
  if pip_wheel then
    table.insert(args, '--without-pip')
  end
  table.insert(args, venv)
  local res = run(args)
  if res.code ~= 0 then
    return nil, ('%s -m venv failed: %s'):format(python.path, vim.trim((res.stderr or '') .. (res.stdout or '')))
  end
  vim.notify(('BackendAI: installing bai-lsp from %s (offline)…'):format(dir), vim.log.levels.INFO)
  local vpython = vim.fs.joinpath(venv, is_windows() and 'Scripts/python.exe' or 'bin/python')
  local pip = pip_wheel and { vpython, vim.fs.joinpath(pip_wheel, 'pip') } or { vpython, '-m', 'pip' }
  vim.list_extend(pip, {
    'install',
    '--no-index',
    '--find-links',
    dir,
    '--disable-pip-version-check',
    '--no-input',
    requirement,
  })
  res = run(pip)
  M.last_log = (res.stdout or '') .. (res.stderr or '')
  if res.code ~= 0 then
    local lines = vim.split(vim.trim(M.last_log), '\n')
    return nil, ('installing bai-lsp failed: %s'):format(lines[#lines] or '?')
  end
  local exe = M.server()
  if not exe then
    return nil, 'the venv has no bai-lsp after installing'
  end
  return exe, nil
end

--- `:BackendAI install [path]`.
function M.command(source)
  local exe, err = M.install(source)
  if not exe then
    vim.notify('BackendAI: ' .. err, vim.log.levels.ERROR)
    return
  end
  local res = run({ exe, '--version' })
  vim.notify(('BackendAI: installed %s (%s)'):format(vim.trim(res.stdout or ''), exe), vim.log.levels.INFO)
  -- vim.lsp.config (0.11) holds the command: register again so new clients use this one
  pcall(function()
    require('backendai.lsp').register()
  end)
end

--- The warning for a server speaking another protocol version, or nil.
---@param client vim.lsp.Client
---@return string|nil
function M.protocol_mismatch(client)
  local caps = client.server_capabilities or {}
  local ours = ((caps.experimental or {}).backendai or {}).protocolVersion
  if ours == version.protocol then
    return nil
  end
  local info = client.server_info or {}
  return ('bai-lsp %s speaks protocol version %s, backendai.nvim %s speaks %s: install the matching server (:BackendAI install) or update the plugin'):format(
    info.version or '(unknown version)',
    tostring(ours or '(none)'),
    version.version,
    tostring(version.protocol)
  )
end

--- on_init of the client: warn once per client about a protocol mismatch.
function M.on_init(client)
  local warning = M.protocol_mismatch(client)
  if warning then
    M.last_warning = warning
    vim.schedule(function()
      vim.notify('BackendAI: ' .. warning, vim.log.levels.WARN)
    end)
  end
end

return M
