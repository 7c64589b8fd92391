local h = require('helpers')
local input = require('backendai.input')
local output = require('backendai.output')

--- Call the handler as Neovim does for a server request: in a coroutine.
local function request(params)
  local result, done = nil, false
  vim.schedule(coroutine.wrap(function()
    result = input.handle(nil, params, {})
    done = true
  end))
  assert(vim.wait(2000, function()
    return done
  end, 10), 'the handler did not answer')
  return result
end

return {
  {
    'prompt text',
    function()
      h.eq('Your name: ', input.prompt_text({ prompt = 'Your name: ' }))
      h.eq('Input: ', input.prompt_text({ prompt = '' }))
      h.eq('Password: ', input.prompt_text({ prompt = '  ', password = true }))
    end,
  },
  {
    'a line is asked through vim.ui.input (the server echoes it, not the client)',
    function()
      h.reset()
      output.run_started('ws', { runId = 'i', uri = 'file:///tmp/ws/a.py', mode = 'query', sessionName = 's' })
      output.output('ws', { runId = 'i', seq = 0, records = { { type = 'stdout', text = 'Your name: ' } } })
      local asked
      local orig = vim.ui.input
      vim.ui.input = function(opts, cb)
        asked = opts.prompt
        vim.defer_fn(function()
          cb('Ada')
        end, 20)
      end
      local res = request({ runId = 'i', prompt = 'Your name: ', password = false })
      vim.ui.input = orig
      h.eq('Your name: ', asked)
      h.eq({ text = 'Ada' }, res)
      h.eq('Your name: ', output.lines('ws')[2])
    end,
  },
  {
    'cancelling answers null',
    function()
      h.reset()
      local orig = vim.ui.input
      vim.ui.input = function(_, cb)
        cb(nil)
      end
      local res = request({ runId = 'c', prompt = 'x? ' })
      vim.ui.input = orig
      h.eq(vim.NIL, res)
    end,
  },
  {
    'the default vim.ui.input reads typed keys',
    function()
      h.reset()
      vim.api.nvim_feedkeys('typed answer\r', 't', false)
      h.eq({ text = 'typed answer' }, request({ runId = 't', prompt = 'Say: ' }))
    end,
  },
  {
    'a password is read with inputsecret and never shown',
    function()
      h.reset()
      output.run_started('ws', { runId = 'p', uri = 'file:///tmp/ws/a.py', mode = 'query', sessionName = 's' })
      output.output('ws', { runId = 'p', seq = 0, records = { { type = 'stdout', text = 'Password: ' } } })
      local called = 0
      local orig = vim.ui.input
      vim.ui.input = function()
        called = called + 1
      end
      vim.api.nvim_feedkeys('s3cret\r', 't', false)
      local res = request({ runId = 'p', prompt = 'Password: ', password = true })
      vim.ui.input = orig
      h.eq({ text = 's3cret' }, res)
      h.eq(0, called, 'vim.ui.input is not used for passwords')
      h.eq('Password: ', output.lines('ws')[2])
      for _, l in ipairs(output.lines('ws')) do
        assert(not l:find('s3cret'), 'the password never reaches the buffer')
      end
    end,
  },
}
