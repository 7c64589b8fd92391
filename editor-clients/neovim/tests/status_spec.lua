local h = require('helpers')
local status = require('backendai.status')

return {
  {
    'the most pressing session of a workspace wins',
    function()
      h.reset()
      status.sessions = {}
      status.update({ workspace = 'file:///w', sessionName = 'a', status = 'idle', image = 'python' })
      status.update({ workspace = 'file:///w', sessionName = 'b', status = 'busy', image = 'c' })
      h.eq('b', status.top('file:///w').sessionName)
      status.update({ workspace = 'file:///w', sessionName = 'a', status = 'waiting-input', image = 'python' })
      h.eq('a', status.top('file:///w').sessionName)
      status.update({ workspace = 'file:///w', sessionName = 'a', status = 'idle', image = 'python' })
      status.update({ workspace = 'file:///w', sessionName = 'b', status = 'idle', image = 'c' })
      h.eq('idle', status.top('file:///w').status)
      h.eq(nil, status.top('file:///other'))
    end,
  },
  {
    'changes fire User BackendAIStatus',
    function()
      local seen = {}
      local id = vim.api.nvim_create_autocmd('User', {
        pattern = 'BackendAIStatus',
        callback = function(ev)
          seen[#seen + 1] = ev.data
        end,
      })
      status.update({ workspace = 'file:///w', sessionName = 'a', status = 'busy' })
      vim.api.nvim_del_autocmd(id)
      h.eq('busy', seen[1].status)
    end,
  },
  {
    'a buffer without a backendai server has an empty status',
    function()
      h.eq('', require('backendai').status(0))
      h.eq(nil, require('backendai').status_info(0))
    end,
  },
}
