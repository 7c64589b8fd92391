local h = require('helpers')
local install = require('backendai.install')

return {
  {
    ':BackendAI install names what is missing: Python, or the wheels',
    function(tmp)
      local exe, err = install.install(tmp, { python = tmp .. '/no/python3.11' })
      h.eq(nil, exe)
      h.matches('installing bai%-lsp needs Python 3%.11 or newer; .*/no/python3%.11 was not found%. Install it', err)
      exe, err = install.install(tmp .. '/README.txt')
      h.eq(nil, exe)
      h.matches('README%.txt is neither a folder of wheels nor a %.whl file', err)
      local notes = h.notifications(function()
        vim.cmd('BackendAI install ' .. vim.fn.fnameescape(tmp .. '/nothing-here.whl'))
      end)
      h.eq(vim.log.levels.ERROR, notes[1].level)
      h.matches('^BackendAI: .*nothing%-here%.whl is neither a folder of wheels nor a %.whl file', notes[1].msg)
    end,
  },
  {
    'the default command means the installed server; a configured one is kept',
    function()
      local server = install.server()
      if server then
        h.eq({ server }, install.resolve_cmd({ 'bai-lsp' }))
      else
        h.eq({ 'bai-lsp' }, install.resolve_cmd({ 'bai-lsp' }))
      end
      h.eq({ '/opt/bai-lsp', '-v' }, install.resolve_cmd({ '/opt/bai-lsp', '-v' }))
    end,
  },
  {
    'a server of another protocol version gets a warning naming both versions',
    function()
      local version = require('backendai.version')
      local same = { server_capabilities = { experimental = { backendai = { protocolVersion = version.protocol } } } }
      h.eq(nil, install.protocol_mismatch(same))
      local old = { server_capabilities = {}, server_info = { name = 'bai-lsp', version = '0.0.9' } }
      h.eq(
        ('bai-lsp 0.0.9 speaks protocol version (none), backendai.nvim %s speaks %d: install the matching server (:BackendAI install) or update the plugin'):format(
          version.version,
          version.protocol
        ),
        install.protocol_mismatch(old)
      )
    end,
  },
}
