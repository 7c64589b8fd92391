local h = require('helpers')
local output = require('backendai.output')
local config = require('backendai.config')
local api = vim.api

local function hl_at(buf, row, col)
  for _, m in ipairs(api.nvim_buf_get_extmarks(buf, output.ns, 0, -1, { details = true })) do
    local r, c, d = m[2], m[3], m[4]
    local after_start = row > r or (row == r and col >= c)
    local before_end = row < d.end_row or (row == d.end_row and col < d.end_col)
    if after_start and before_end then
      return d.hl_group
    end
  end
end

return {
  {
    'a run streams into the buffer with a header and a footer',
    function()
      h.reset()
      output.run_started('ws', { runId = 'r1', uri = 'file:///tmp/ws/demo.py', mode = 'query', sessionName = 'bai-ws-1' })
      output.output('ws', { runId = 'r1', seq = 0, records = { { type = 'stdout', text = 'hello ' } } })
      output.output('ws', { runId = 'r1', seq = 1, records = { { type = 'stdout', text = 'world\nsecond' } } })
      output.output('ws', { runId = 'r1', seq = 2, records = { { type = 'stderr', text = ' oops\n' } } })
      output.run_finished('ws', { runId = 'r1', uri = 'file:///tmp/ws/demo.py', status = 'finished', exitCode = 0, durationMs = 1500 })
      local lines = output.lines('ws')
      h.matches('^▶ .*demo%.py · bai%-ws%-1 · r1$', lines[1])
      h.eq({ 'hello world', 'second oops' }, { lines[2], lines[3] })
      h.eq('■ finished · exit 0 · 1.5 s', lines[4])
      local buf = output.views.ws.buf
      h.eq('BackendAIStderr', hl_at(buf, 2, 8), 'stderr part is highlighted')
      h.eq(nil, hl_at(buf, 2, 2), 'stdout part is not')
      h.eq('BackendAIHeader', hl_at(buf, 0, 0))
      h.eq(false, vim.bo[buf].modifiable, 'the user cannot type into it')
      h.eq('nofile', vim.bo[buf].buftype)
    end,
  },
  {
    'the output window opens without taking the cursor and follows the end',
    function()
      h.reset()
      local src = api.nvim_get_current_win()
      output.run_started('ws', { runId = 'r2', uri = 'file:///tmp/ws/a.py', mode = 'query', sessionName = 's' })
      h.eq(src, api.nvim_get_current_win(), 'focus stays in the source window')
      h.eq(2, #api.nvim_tabpage_list_wins(0), 'a split opened')
      local win
      for _, w in ipairs(api.nvim_tabpage_list_wins(0)) do
        if w ~= src then
          win = w
        end
      end
      h.eq(12, api.nvim_win_get_height(win), 'output.size')
      for i = 1, 50 do
        output.output('ws', { runId = 'r2', seq = i, records = { { type = 'stdout', text = ('line %d\n'):format(i) } } })
      end
      h.eq(51, api.nvim_win_get_cursor(win)[1], 'the window follows the last line')
      output.run_started('ws', { runId = 'r3', uri = 'file:///tmp/ws/a.py', mode = 'query', sessionName = 's' })
      h.eq(2, #api.nvim_tabpage_list_wins(0), 'the same window is reused')
    end,
  },
  {
    'a window whose cursor was moved up stays where the user reads',
    function()
      h.reset()
      config.current.output.focus = true
      output.run_started('ws', { runId = 'r', uri = 'file:///tmp/ws/a.py', mode = 'query', sessionName = 's' })
      local win = api.nvim_get_current_win()
      h.eq(output.views.ws.buf, api.nvim_win_get_buf(win), 'focus = true moves into the output')
      for i = 1, 30 do
        output.output('ws', { runId = 'r', seq = i, records = { { type = 'stdout', text = i .. '\n' } } })
      end
      api.nvim_win_set_cursor(win, { 5, 0 })
      output.output('ws', { runId = 'r', seq = 31, records = { { type = 'stdout', text = 'more\n' } } })
      h.eq(5, api.nvim_win_get_cursor(win)[1])
      api.nvim_win_set_cursor(win, { api.nvim_buf_line_count(0), 0 })
      output.output('ws', { runId = 'r', seq = 32, records = { { type = 'stdout', text = 'and more\n' } } })
      h.eq(api.nvim_buf_line_count(0), api.nvim_win_get_cursor(win)[1], 'back at the end: follows again')
    end,
  },
  {
    'progress bars rewrite their line; the buffer is capped at max_lines',
    function()
      h.reset()
      config.current.output.max_lines = 20
      output.run_started('ws', { runId = 'p', uri = 'file:///tmp/ws/a.py', mode = 'query', sessionName = 's' })
      for pct = 0, 100, 25 do
        output.output('ws', { runId = 'p', seq = pct, records = { { type = 'stdout', text = ('\rprogress %3d%%'):format(pct) } } })
      end
      output.output('ws', { runId = 'p', seq = 101, records = { { type = 'stdout', text = '\n' } } })
      h.eq('progress 100%', output.lines('ws')[2])
      for i = 1, 100 do
        output.output('ws', { runId = 'p', seq = 200 + i, records = { { type = 'stdout', text = ('n%d\n'):format(i) } } })
      end
      local lines = output.lines('ws')
      h.eq(20, #lines)
      h.eq('n100', lines[20])
    end,
  },
  {
    'two runs interleaving keep their own lines',
    function()
      h.reset()
      output.run_started('ws', { runId = 'a', uri = 'file:///tmp/ws/a.py', mode = 'query', sessionName = 's' })
      output.output('ws', { runId = 'a', seq = 0, records = { { type = 'stdout', text = 'a1' } } })
      output.output('ws', { runId = 'b', seq = 0, records = { { type = 'stdout', text = 'b1' } } })
      output.output('ws', { runId = 'a', seq = 1, records = { { type = 'stdout', text = 'a2\n' } } })
      h.eq({ 'a1', 'b1', 'a2' }, vim.list_slice(output.lines('ws'), 2))
    end,
  },
  {
    'media records are saved to files whose paths are shown',
    function(tmp)
      h.reset()
      config.current.media.dir = tmp .. '/media'
      -- a 1x1 PNG
      local png_b64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='
      output.run_started('ws', { runId = 'm', uri = 'file:///tmp/ws/a.py', mode = 'query', sessionName = 's' })
      output.output('ws', {
        runId = 'm',
        seq = 0,
        records = {
          { type = 'media', mime = 'image/png', data = png_b64 },
          { type = 'media', mime = 'image/svg+xml', data = '<svg xmlns="http://www.w3.org/2000/svg"/>' },
          { type = 'html', data = '<b>bold</b>' },
          { type = 'media', mime = 'image/png', data = '%%%not base64' },
        },
      })
      local lines = output.lines('ws')
      local png = lines[2]:match('^%[image/png%] (.+)$')
      assert(png, lines[2])
      local f = assert(io.open(png, 'rb'))
      local bytes = f:read('*a')
      f:close()
      h.eq('\137PNG\r\n\26\n', bytes:sub(1, 8), 'decoded PNG signature')
      h.eq(vim.base64.decode(png_b64), bytes)
      local svg = lines[3]:match('^%[image/svg%+xml%] (.+%.svg)$')
      h.eq('<svg xmlns="http://www.w3.org/2000/svg"/>', table.concat(vim.fn.readfile(svg), '\n'))
      local html = lines[4]:match('^%[text/html%] (.+%.html)$')
      h.eq('<b>bold</b>', table.concat(vim.fn.readfile(html), '\n'))
      h.matches('^%[image/png%] could not decode the data', lines[5])
    end,
  },
  {
    'media.open hands the file to vim.ui.open',
    function(tmp)
      h.reset()
      config.current.media.dir = tmp .. '/media2'
      config.current.media.open = true
      local opened = {}
      local orig = vim.ui.open
      vim.ui.open = function(path)
        opened[#opened + 1] = path
        return nil, nil
      end
      output.run_started('ws', { runId = 'o', uri = 'file:///tmp/ws/a.py', mode = 'query', sessionName = 's' })
      output.output('ws', { runId = 'o', seq = 0, records = { { type = 'media', mime = 'image/svg+xml', data = '<svg/>' } } })
      vim.ui.open = orig
      h.eq(1, #opened)
      h.matches('^' .. vim.pesc(tmp) .. '/media2/.*%.svg$', opened[1])
    end,
  },
  {
    'a failed run has a red footer; a full-output file is shown',
    function()
      h.reset()
      output.run_started('ws', { runId = 'f', uri = 'file:///tmp/ws/a.py', mode = 'batch', sessionName = 's' })
      output.run_finished('ws', {
        runId = 'f',
        uri = 'file:///tmp/ws/a.py',
        status = 'failed',
        exitCode = 1,
        durationMs = 20,
        message = 'session lost',
        outputFile = '/tmp/full.log',
      })
      local lines = output.lines('ws')
      h.matches('%(batch%)', lines[1])
      h.eq('[full output] /tmp/full.log', lines[2])
      h.eq('■ failed · exit 1 · 20 ms · session lost', lines[3])
      h.eq('BackendAIError', hl_at(output.views.ws.buf, 2, 0))
    end,
  },
}
