local h = require('helpers')
local config = require('backendai.config')

return {
  {
    'defaults are valid',
    function()
      h.eq(nil, config.check(config.defaults))
      local merged, err = config.resolve(nil)
      h.eq(nil, err)
      h.eq({ 'bai-lsp' }, merged.cmd)
    end,
  },
  {
    'user options merge over the defaults, lists replace',
    function()
      local merged = assert(config.resolve({
        cmd = { '/opt/bai/bin/bai-lsp', '-v' },
        filetypes = { 'python' },
        output = { position = 'right', size = 60 },
        settings = { image = 'python:3.11', resources = { cpu = 2 } },
      }))
      h.eq({ '/opt/bai/bin/bai-lsp', '-v' }, merged.cmd)
      h.eq({ 'python' }, merged.filetypes)
      h.eq('right', merged.output.position)
      h.eq(60, merged.output.size)
      h.eq(10000, merged.output.max_lines, 'untouched defaults stay')
      h.eq({ image = 'python:3.11', resources = { cpu = 2 } }, merged.settings)
    end,
  },
  {
    'an unknown key is named',
    function()
      local _, err = config.resolve({ outptu = {} })
      h.eq('unknown option "outptu"', err)
      _, err = config.resolve({ output = { postion = 'below' } })
      h.eq('unknown option "output.postion"', err)
    end,
  },
  {
    'a wrong type names the key and what was expected',
    function()
      local _, err = config.resolve({ output = { position = 'up' } })
      h.matches('^output%.position: expected one of "below", "above", "right", "left", "tab"', err)
      _, err = config.resolve({ cmd = 'bai-lsp' })
      h.matches('^cmd: expected a non%-empty list of strings', err)
      _, err = config.resolve({ output = { max_lines = 0 } })
      h.matches('^output%.max_lines: expected an integer >= 1', err)
      _, err = config.resolve({ autostart = 'yes' })
      h.matches('^autostart: expected boolean, got string', err)
      _, err = config.resolve({ output = 'below' })
      h.eq('output: expected a table, got string', err)
      _, err = config.resolve('nope')
      h.eq('expected a table of options, got string', err)
    end,
  },
  {
    'setup() reports a bad option and keeps the previous options',
    function()
      h.reset()
      local bai = require('backendai')
      assert(bai.setup({ output = { size = 20 } }))
      local ok, err
      local notes = h.notifications(function()
        ok, err = bai.setup({ output = { size = -1 } })
      end)
      h.eq(false, ok)
      h.matches('output%.size', err)
      h.eq(1, #notes)
      h.eq(vim.log.levels.ERROR, notes[1].level)
      h.matches('^BackendAI: invalid setup%(%) options: output%.size: expected an integer >= 0', notes[1].msg)
      h.eq(20, config.current.output.size, 'previous options stay')
      h.reset()
    end,
  },
  {
    'setup() registers the LSP configuration (vim.lsp.config on 0.11)',
    function()
      h.reset()
      assert(require('backendai').setup({ cmd = { 'my-bai-lsp' }, settings = { image = 'x' } }))
      if vim.fn.has('nvim-0.11') == 1 then
        local cfg = vim.lsp.config.backendai
        h.eq({ 'my-bai-lsp' }, cfg.cmd)
        h.eq({ backendai = { image = 'x' } }, cfg.settings)
        h.eq(true, cfg.capabilities.experimental.backendai.input)
        h.eq('shellscript', cfg.get_language_id(0, 'sh'))
        h.eq('python', cfg.get_language_id(0, 'python'))
      end
      h.reset()
    end,
  },
}
