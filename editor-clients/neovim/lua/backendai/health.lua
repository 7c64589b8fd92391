--- :checkhealth backendai
local M = {}

local health = vim.health

function M.check()
  health.start('backendai: Neovim')
  if vim.fn.has('nvim-0.10') == 1 then
    health.ok(('Neovim %s'):format(tostring(vim.version())))
  else
    health.error('Neovim 0.10 or newer is needed', { 'Upgrade Neovim (0.11 recommended).' })
  end
  if vim.fn.has('nvim-0.11') ~= 1 then
    health.info('Neovim 0.10: vim.lsp.config is not available; FileType autostart is used instead')
  end

  health.start('backendai: options')
  local config = require('backendai.config')
  local err = config.check(config.current)
  if err then
    health.error('the options in force are invalid: ' .. err)
  else
    health.ok('options are valid')
  end
  local install = require('backendai.install')
  local cmd = install.resolve_cmd(config.current.cmd)
  health.info(('server command: %s'):format(table.concat(cmd, ' ')))
  health.info(('autostart: %s (filetypes: %s)'):format(
    tostring(config.current.autostart),
    table.concat(config.current.filetypes, ', ')
  ))

  health.start('backendai: server')
  local exe = cmd[1]
  local plugin = require('backendai.version')
  health.info(('plugin %s, protocol version %d'):format(plugin.version, plugin.protocol))
  if install.server() then
    health.info(('installed by :BackendAI install: %s'):format(install.server()))
  end
  if vim.fn.executable(exe) ~= 1 then
    health.error(('%q is not executable or not on $PATH'):format(exe), {
      'Install the server: :BackendAI install (from the wheels of the release archive)',
      'or point setup({ cmd = { "/path/to/bai-lsp" } }) at it',
    })
  else
    health.ok(('%s found: %s'):format(exe, vim.fn.exepath(exe)))
    local ok, res = pcall(function()
      return vim.system({ exe, '--version' }, { text = true }):wait(10000)
    end)
    if ok and res.code == 0 then
      local shown = vim.trim(res.stdout ~= '' and res.stdout or res.stderr)
      local server_version = shown:match('^bai%-lsp (%S+)')
      if server_version and server_version ~= plugin.version then
        health.warn(('version: %s (the plugin is %s)'):format(shown, plugin.version), {
          'Install the matching server: :BackendAI install',
        })
      else
        health.ok(('version: %s'):format(shown))
      end
    else
      health.warn(('`%s --version` failed: %s'):format(
        exe,
        ok and vim.trim((res.stderr or '') .. (res.stdout or '')) or tostring(res)
      ))
    end
  end
  local settings = config.current.settings or {}
  if settings.endpoint then
    health.info(('endpoint: %s (type %s)'):format(settings.endpoint, settings.endpointType or 'api'))
  elseif vim.env.BACKEND_ENDPOINT then
    health.info(('endpoint from $BACKEND_ENDPOINT: %s'):format(vim.env.BACKEND_ENDPOINT))
  else
    health.info('no endpoint configured: the server starts its embedded local gateway')
  end

  health.start('backendai: sessions')
  local clients = vim.lsp.get_clients({ name = 'backendai' })
  if #clients == 0 then
    health.info('no backendai server is running (it starts on the first :BackendAI command)')
  end
  local status = require('backendai.status')
  for _, client in ipairs(clients) do
    local caps = client.server_capabilities or {}
    local commands = (caps.executeCommandProvider or {}).commands or {}
    health.ok(('client %d: %s, %d commands'):format(client.id, client.root_dir or '?', #commands))
    local mismatch = install.protocol_mismatch(client)
    if mismatch then
      health.warn(mismatch)
    end
    for _, folder in ipairs(client.workspace_folders or {}) do
      for name, info in pairs(status.sessions[folder.uri] or {}) do
        health.info(('  session %s: %s (%s)%s'):format(
          name,
          info.status or '?',
          info.image or '?',
          info.message and (' — ' .. info.message) or ''
        ))
      end
    end
  end

  health.start('backendai: media')
  local dir = config.media_dir()
  if vim.fn.mkdir(dir, 'p') == 1 or vim.fn.isdirectory(dir) == 1 then
    if vim.fn.filewritable(dir) == 2 then
      health.ok(('images are saved in %s'):format(dir))
    else
      health.error(('%s is not writable'):format(dir), { 'Set media.dir in setup()' })
    end
  else
    health.error(('cannot create %s'):format(dir), { 'Set media.dir in setup()' })
  end
  if config.current.media.open then
    health.info('media.open = true: images open with vim.ui.open()')
  end
end

return M
