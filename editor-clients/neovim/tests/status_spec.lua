local h = require('helpers')
local status = require('backendai.status')

return {
  {
    'an ended session is announced unless the server says this user destroyed it',
    function()
      h.reset()
      status.sessions = {}
      local handler = require('backendai.lsp').handlers()['backendai/sessionStatus']
      local function ended(reason)
        return h.notifications(function()
          handler(nil, {
            workspace = 'file:///w',
            sessionName = 'bai-w',
            status = 'terminated',
            image = 'python',
            message = 'Session bai-w ended: it was idle longer than the idle timeout.',
            reason = reason,
          }, { client_id = 0 })
        end)
      end
      h.eq({}, ended('destroyed-by-user'))
      local notes = ended('idle-timeout')
      h.eq(1, #notes)
      h.matches('^BackendAI: bai%-w: Session bai%-w ended: it was idle', notes[1].msg)
      h.eq(vim.log.levels.WARN, notes[1].level)
    end,
  },
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
