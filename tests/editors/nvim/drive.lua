-- Drives the Neovim plugin in a real headless Neovim against a real bai-lsp, the way a
-- user would: :BackendAI commands in demo.py, answers typed at the prompts, the statusline
-- component sampled on every status change. Writes what the user would have seen to
-- $BAI_RESULT (JSON). Run by tests/editors/test_neovim.py:
--   nvim --headless -u NONE -l drive.lua
-- Env: BAI_PLUGIN (editor-clients/neovim), BAI_LSP (server), BAI_DEMO (demo.py),
--      BAI_RESULT (output JSON), BAI_MEDIA (media folder), BAI_NAME / BAI_PASSWORD (answers),
--      BAI_LINES (JSON of the demo's line numbers).
local common = dofile(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)) .. '/common.lua')
local env = vim.env
local result = { scenarios = {}, notifications = {}, statuses = {} }
local lines = vim.json.decode(env.BAI_LINES)

local save, orig_notify = common.start(result)
local log = common.log

local bai = require('backendai')
assert(bai.setup({
  cmd = { env.BAI_LSP },
  settings = { onExit = 'destroy' },
  output = { size = 10 },
  media = { dir = env.BAI_MEDIA },
  notify = { long_run_ms = 0 },
}))

local finished = {}
vim.api.nvim_create_autocmd('User', {
  pattern = 'BackendAIRunFinished',
  callback = function(ev)
    finished[#finished + 1] = ev.data
  end,
})

local demo_buf
-- the component in a real statusline, evaluated as Neovim draws it for the demo's window
vim.o.statusline = '%f %= %{v:lua.require("backendai").status()}'
local function statusline()
  local win = demo_buf and vim.fn.bufwinid(demo_buf) or -1
  if win == -1 then
    return ''
  end
  local text = vim.api.nvim_eval_statusline(vim.o.statusline, { winid = win, maxwidth = 200 }).str
  return (text:match('(BAI.-)%s*$') or '')
end
vim.api.nvim_create_autocmd('User', {
  pattern = 'BackendAIStatus',
  callback = function()
    local text = statusline()
    if result.statuses[#result.statuses] ~= text then
      result.statuses[#result.statuses + 1] = text
    end
  end,
})

vim.cmd('edit ' .. vim.fn.fnameescape(env.BAI_DEMO))
demo_buf = vim.api.nvim_get_current_buf()

--- The statusline once the session went back to idle (it follows runFinished closely).
local function settled_status()
  vim.wait(5000, function()
    return statusline() == 'BAI idle'
  end, 20)
  return statusline()
end

--- Wait for the n-th run to finish; returns its result, or an {status = 'error'} table when
--- the command was refused (an error notification), or nil on timeout.
local function wait_finished(n, timeout)
  local errors_before = #vim.tbl_filter(function(m)
    return m.level == vim.log.levels.ERROR
  end, result.notifications)
  local refused
  vim.wait(timeout, function()
    local errors = vim.tbl_filter(function(m)
      return m.level == vim.log.levels.ERROR
    end, result.notifications)
    if #errors > errors_before then
      refused = { status = 'error', message = errors[#errors].msg }
      return true
    end
    return #finished >= n
  end, 50)
  if refused then
    finished[n] = refused
  end
  return finished[n]
end

local function output_text()
  return table.concat(bai.output_lines(demo_buf), '\n')
end

local function scenario(name, fn)
  local t0 = vim.uv.hrtime()
  local ok, err = xpcall(fn, debug.traceback)
  result.scenarios[name] = result.scenarios[name] or {}
  result.scenarios[name].ok = ok
  result.scenarios[name].error = (not ok) and tostring(err) or nil
  result.scenarios[name].seconds = (vim.uv.hrtime() - t0) / 1e9
  log(('scenario %s: %s (%.1f s)'):format(name, ok and 'done' or ('ERROR ' .. tostring(err)), result.scenarios[name].seconds))
  save()
end

local n = 0

-- 1. a region: :2,4BackendAI run
scenario('region', function()
  local s = result.scenarios.region or {}
  result.scenarios.region = s
  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  local statuses_before = #result.statuses
  vim.cmd(('%d,%dBackendAI run'):format(lines.greeting[1], lines.greeting[2]))
  n = n + 1
  s.run = wait_finished(n, 120000)
  s.output = bai.output_lines(demo_buf)
  s.statusline_after = settled_status()
  s.statuses = vim.list_slice(result.statuses, statuses_before + 1)
  s.windows = #vim.api.nvim_tabpage_list_wins(0)
  s.current_buffer_is_demo = vim.api.nvim_get_current_buf() == demo_buf
  -- which highlight the stderr line has
  local out = require('backendai.output')
  s.highlights = {}
  for _, view in pairs(out.views) do
    for _, m in ipairs(vim.api.nvim_buf_get_extmarks(view.buf, out.ns, 0, -1, { details = true })) do
      local line = vim.api.nvim_buf_get_lines(view.buf, m[2], m[2] + 1, false)[1]
      s.highlights[#s.highlights + 1] = { line = line, group = m[4].hl_group }
    end
  end
end)

-- 2. input() and getpass(): the answers are typed ahead, as keys
scenario('input', function()
  local s = {}
  result.scenarios.input = s
  vim.api.nvim_win_set_cursor(0, { lines.ask, 0 })
  vim.api.nvim_feedkeys(env.BAI_NAME .. '\r' .. env.BAI_PASSWORD .. '\r', 't', false)
  local statuses_before = #result.statuses
  vim.cmd('BackendAI run_cell')
  n = n + 1
  s.run = wait_finished(n, 60000)
  s.output = bai.output_lines(demo_buf)
  s.statuses = vim.list_slice(result.statuses, statuses_before + 1)
end)

-- 3. an endless loop, stopped with :BackendAI interrupt
scenario('interrupt', function()
  local s = {}
  result.scenarios.interrupt = s
  vim.api.nvim_win_set_cursor(0, { lines.loop, 0 })
  local notes_before = #result.notifications
  vim.cmd('BackendAI run_cell')
  n = n + 1
  vim.wait(60000, function()
    return output_text():find('tick 3', 1, true) ~= nil
      or #finished >= n
      or #result.notifications > notes_before
  end, 50)
  s.saw_ticks = output_text():find('tick 3', 1, true) ~= nil
  s.statusline_while_running = statusline()
  local t0 = vim.uv.hrtime()
  vim.cmd('BackendAI interrupt')
  s.run = wait_finished(n, 30000)
  s.seconds_to_stop = (vim.uv.hrtime() - t0) / 1e9
  s.statusline_after = settled_status()
  -- the kernel is still usable: the next cell runs
  vim.api.nvim_win_set_cursor(0, { lines.after, 0 })
  vim.cmd('BackendAI run')
  n = n + 1
  s.after = wait_finished(n, 30000)
  s.output = bai.output_lines(demo_buf)
end)

-- 4. a matplotlib figure: saved as a PNG whose path is shown
scenario('media', function()
  local s = {}
  result.scenarios.media = s
  vim.api.nvim_win_set_cursor(0, { lines.plot, 0 })
  vim.cmd('BackendAI run_cell')
  n = n + 1
  s.run = wait_finished(n, 60000)
  s.output = bai.output_lines(demo_buf)
end)

-- 5. :BackendAI sessions lists the session; :BackendAI restart gives a fresh kernel
scenario('restart', function()
  local s = {}
  result.scenarios.restart = s
  local before = #result.notifications
  vim.cmd('BackendAI sessions')
  vim.wait(30000, function()
    return #result.notifications > before
  end, 50)
  s.sessions = vim.list_slice(result.notifications, before + 1)
  before = #result.notifications
  vim.cmd('BackendAI restart')
  vim.wait(60000, function()
    return #result.notifications > before
  end, 50)
  s.restart = vim.list_slice(result.notifications, before + 1)
  -- `i` was defined by the loop cell; after a restart it is gone
  vim.api.nvim_buf_set_lines(demo_buf, -1, -1, false, { 'print("i" in dir())' })
  vim.cmd('$BackendAI run')
  n = n + 1
  s.run = wait_finished(n, 60000)
  s.output = bai.output_lines(demo_buf)
  vim.api.nvim_buf_set_lines(demo_buf, -2, -1, false, {})
end)

-- 5b. a flood: 30000 lines as fast as the kernel prints them
scenario('flood', function()
  local s = {}
  result.scenarios.flood = s
  vim.api.nvim_buf_set_lines(demo_buf, -1, -1, false, { 'for k in range(30000): print("line", k)' })
  local t0 = vim.uv.hrtime()
  vim.cmd('$BackendAI run')
  n = n + 1
  s.run = wait_finished(n, 120000)
  s.seconds = (vim.uv.hrtime() - t0) / 1e9
  local out = bai.output_lines(demo_buf)
  s.line_count = #out
  s.tail = vim.list_slice(out, #out - 2)
  vim.api.nvim_buf_set_lines(demo_buf, -2, -1, false, {})
end)

-- 5c. a charwise visual selection runs only the selected characters
scenario('charwise', function()
  local s = {}
  result.scenarios.charwise = s
  vim.api.nvim_buf_set_lines(demo_buf, -1, -1, false, { env.BAI_CHARWISE_LINE })
  local last = vim.api.nvim_buf_line_count(demo_buf)
  vim.api.nvim_win_set_cursor(0, { last, tonumber(env.BAI_CHARWISE_START) })
  vim.cmd('normal! v$')
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes('<Esc>', true, false, true), 'x', false)
  vim.cmd("'<,'>BackendAI run")
  n = n + 1
  s.run = wait_finished(n, 60000)
  local out = bai.output_lines(demo_buf)
  s.tail = vim.list_slice(out, #out - 2)
  vim.api.nvim_buf_set_lines(demo_buf, -2, -1, false, {})
end)

-- 5c'. ranges past the end, as Neovim itself builds them, through the plugin's LSP client:
-- a linewise (V) selection's '> mark is at column v:maxcol, and vim.lsp.util's own range
-- for it ends one past the line; the server clamps both (LSP: "defaults back to the line
-- length"), and a line past the last one is the end of the document
scenario('past_end', function()
  local s = { runs = {}, tails = {} }
  result.scenarios.past_end = s
  local first = vim.api.nvim_buf_line_count(demo_buf) + 1
  vim.api.nvim_buf_set_lines(demo_buf, -1, -1, false, { 'print("linewise one")', 'print("linewise two")' })
  vim.api.nvim_win_set_cursor(0, { first, 0 })
  vim.cmd('normal! Vj')
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes('<Esc>', true, false, true), 'x', false)
  local client = vim.lsp.get_clients({ name = 'backendai', bufnr = demo_buf })[1]
  local mark = vim.api.nvim_buf_get_mark(demo_buf, '>')
  s.mark_col = mark[2]
  local own = vim.lsp.util.make_given_range_params(nil, nil, demo_buf, client.offset_encoding).range
  s.own_end = own['end']
  local ranges = {
    own,
    { start = { line = first - 1, character = 0 }, ['end'] = { line = mark[1] - 1, character = mark[2] } },
    { start = { line = first, character = 0 }, ['end'] = { line = first + 40, character = 3 } },
  }
  for i, range in ipairs(ranges) do
    local answer
    client:request('workspace/executeCommand', {
      command = 'backendai.runSelection',
      arguments = { { uri = vim.uri_from_bufnr(demo_buf), range = range } },
    }, function(err, res)
      answer = { err = err and err.message, result = res }
    end, demo_buf)
    vim.wait(60000, function()
      return answer ~= nil
    end, 50)
    if answer and answer.result then
      n = n + 1
      wait_finished(n, 10000)
    end
    s.runs[i] = answer or { err = 'no answer' }
    local out = bai.output_lines(demo_buf)
    s.tails[i] = vim.list_slice(out, #out - 2)
  end
  vim.api.nvim_buf_set_lines(demo_buf, -3, -1, false, {})
end)

-- 5d. :BackendAI run_file batch uploads the workspace and runs `python batch_demo.py`
scenario('batch', function()
  local s = {}
  result.scenarios.batch = s
  vim.cmd('edit ' .. vim.fn.fnameescape(vim.fs.dirname(env.BAI_DEMO) .. '/batch_demo.py'))
  vim.cmd('BackendAI run_file batch')
  n = n + 1
  s.run = wait_finished(n, 120000)
  local out = bai.output_lines(0)
  s.output = out
  vim.cmd('buffer ' .. demo_buf)
end)

-- 6. :checkhealth backendai with the server running
scenario('health', function()
  local s = {}
  result.scenarios.health = s
  settled_status()
  vim.cmd('checkhealth backendai')
  s.text = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  vim.cmd('bwipeout!')
end)

-- 6b. :BackendAI destroy ends the session
scenario('destroy', function()
  local s = {}
  result.scenarios.destroy = s
  local before = #result.notifications
  vim.cmd('BackendAI destroy')
  vim.wait(60000, function()
    return #result.notifications > before
  end, 50)
  s.notifications = vim.list_slice(result.notifications, before + 1)
  vim.wait(5000, function()
    return statusline() == 'BAI terminated'
  end, 20)
  s.statusline = statusline()
end)

result.final_statusline = statusline()
result.errors_before_unreachable = vim.tbl_filter(function(m)
  return m.level == vim.log.levels.ERROR
end, result.notifications)

-- 7. a second project whose settings point at a backend that is not there
scenario('unreachable', function()
  local s = {}
  result.scenarios.unreachable = s
  assert(bai.setup({
    cmd = { env.BAI_LSP },
    settings = {
      endpoint = env.BAI_DEAD_ENDPOINT,
      accessKey = 'AKIADEADENDPOINT0000',
      secretKey = env.BAI_DEAD_SECRET,
      onExit = 'destroy',
    },
  }))
  vim.cmd('edit ' .. vim.fn.fnameescape(env.BAI_DEMO2))
  local before = #result.notifications
  vim.cmd('BackendAI run')
  vim.wait(60000, function()
    for i = before + 1, #result.notifications do
      if result.notifications[i].level == vim.log.levels.ERROR then
        return true
      end
    end
    return false
  end, 50)
  s.notifications = vim.list_slice(result.notifications, before + 1)
  s.statusline = bai.status(0)
end)
save()
for _, client in ipairs(vim.lsp.get_clients({ name = 'backendai' })) do
  client:stop()
end
vim.wait(10000, function()
  return #vim.lsp.get_clients({ name = 'backendai' }) == 0
end, 50)
vim.notify = orig_notify
os.exit(0)
