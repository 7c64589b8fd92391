local h = require('helpers')
local bai = require('backendai')

return {
  {
    ':BackendAI completes sub-commands and run_file modes',
    function()
      h.eq(
        { 'apps', 'clear', 'configure', 'destroy', 'export', 'folders', 'inspect', 'install', 'interrupt', 'output', 'restart', 'run', 'run_cell', 'run_file', 'sessions', 'start', 'status', 'terminal', 'vars' },
        vim.fn.getcompletion('BackendAI ', 'cmdline')
      )
      h.eq({ 'run', 'run_cell', 'run_file' }, vim.fn.getcompletion('BackendAI ru', 'cmdline'))
      h.eq({ 'batch', 'query' }, vim.fn.getcompletion('BackendAI run_file ', 'cmdline'))
    end,
  },
  {
    'an unknown sub-command is an error naming the valid ones',
    function()
      local notes = h.notifications(function()
        vim.cmd('BackendAI runn')
      end)
      h.eq(vim.log.levels.ERROR, notes[1].level)
      h.matches('unknown sub%-command "runn"; use one of: apps, clear, configure, destroy, export, folders, inspect, install, interrupt', notes[1].msg)
      notes = h.notifications(function()
        vim.cmd('BackendAI run_file fast')
      end)
      h.matches('run_file takes "batch" or "query", got "fast"', notes[1].msg)
    end,
  },
  {
    'a missing server command is reported with what to do',
    function()
      h.reset()
      assert(bai.setup({ cmd = { 'no-such-bai-lsp-binary' } }))
      local tmpfile = vim.fn.tempname() .. '.py'
      vim.fn.writefile({ 'print(1)' }, tmpfile)
      vim.cmd('edit ' .. tmpfile)
      local err
      local notes = h.notifications(function()
        bai.run(nil, function(e)
          err = e
        end)
      end)
      h.matches('"no%-such%-bai%-lsp%-binary" was not found: install bai%-lsp', err)
      h.matches('^BackendAI: the server command', notes[1].msg)
      vim.cmd('bwipeout!')
      h.reset()
    end,
  },
  {
    'an unnamed buffer cannot be run',
    function()
      h.reset()
      vim.cmd('enew')
      local err
      h.notifications(function()
        bai.run(nil, function(e)
          err = e
        end)
      end)
      h.matches('save the buffer to a file first', err)
      vim.cmd('bwipeout!')
    end,
  },
  {
    'run and run_cell are refused in the output buffer',
    function()
      h.reset()
      local output = require('backendai.output')
      output.run_started('ws', { runId = 'x', uri = 'file:///tmp/ws/a.py', mode = 'query', sessionName = 's' })
      output.open('ws', true)
      local errs = {}
      h.notifications(function()
        bai.run(nil, function(e)
          errs[#errs + 1] = e
        end)
        bai.run_cell(function(e)
          errs[#errs + 1] = e
        end)
      end)
      h.matches('go to a source buffer to run code', errs[1])
      h.matches('go to a source buffer to run code', errs[2])
      h.reset()
    end,
  },
  {
    'ranges are LSP ranges in the negotiated encoding',
    function()
      local buf = vim.api.nvim_create_buf(false, true)
      vim.api.nvim_buf_set_lines(buf, 0, -1, false, { 'x = "héllo"', 'print(x)  # 😀 ok' })
      h.eq(
        { start = { line = 0, character = 0 }, ['end'] = { line = 1, character = 17 } },
        bai.make_range(buf, 1, 2, nil, nil, 'utf-16'),
        'linewise, utf-16 counts the emoji as 2'
      )
      h.eq(
        { start = { line = 0, character = 0 }, ['end'] = { line = 1, character = 16 } },
        bai.make_range(buf, 1, 2, nil, nil, 'utf-32')
      )
      -- charwise: from "h" of héllo to the "é" inclusive (byte cols 5..6 is é)
      h.eq(
        { start = { line = 0, character = 5 }, ['end'] = { line = 0, character = 7 } },
        bai.make_range(buf, 1, 1, 5, 6, 'utf-16')
      )
      -- v_$ puts a huge column in '>: clamp to the line
      h.eq(
        { start = { line = 1, character = 0 }, ['end'] = { line = 1, character = 17 } },
        bai.make_range(buf, 2, 2, 0, 2147483647, 'utf-16')
      )
      vim.api.nvim_buf_delete(buf, { force = true })
    end,
  },
  {
    'session lists are formatted one per line',
    function()
      h.eq({ 'no sessions' }, bai.format_sessions({ sessions = {} }))
      local lines = bai.format_sessions({
        sessions = { { name = 'bai-proj-1a2b3c4d', status = 'RUNNING', image = 'python', workspace = 'file:///tmp/proj' } },
      })
      h.matches('^bai%-proj%-1a2b3c4d%s+RUNNING%s+python%s+/tmp/proj$', lines[1])
    end,
  },
}
