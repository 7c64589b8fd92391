-- Drives `:BackendAI terminal` and `:BackendAI apps` in a real headless Neovim against a
-- real bai-lsp (embedded gateway): keys typed in terminal mode, the screen read back from
-- the terminal buffer, the split resized, `exit` typed; a web server started by a run and
-- fetched through the URL `:BackendAI apps` opened. Writes what happened to $BAI_RESULT.
-- Env: BAI_PLUGIN, BAI_LSP, BAI_DEMO (serve.py), BAI_RESULT, BAI_APP_PORT.
-- Run with `nvim --headless -u NONE -c 'luafile terminal.lua'` (not `-l`): terminal mode
-- needs Neovim's main loop, so the steps run in a coroutine that yields to it.
local common = dofile(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)) .. '/common.lua')
local env = vim.env
local api = vim.api
local result = { notifications = {}, steps = {} }

local save = common.start(result)

local bai = require('backendai')
assert(bai.setup({
  cmd = { env.BAI_LSP },
  settings = { onExit = 'destroy', apps = { { name = 'web', port = tonumber(env.BAI_APP_PORT) } } },
}))

vim.cmd('edit ' .. vim.fn.fnameescape(env.BAI_DEMO))
local demo_buf = api.nvim_get_current_buf()

local function screen(buf)
  return table.concat(api.nvim_buf_get_lines(buf, 0, -1, false), '\n')
end

local sleep, wait_until = common.sleep, common.wait_until
local step = common.stepper(result, save)

--- Type keys as a user does: into the terminal window, in terminal mode.
local function type_keys(term, keys)
  api.nvim_set_current_win(vim.fn.bufwinid(term.buf))
  vim.cmd('startinsert')
  sleep(50)
  api.nvim_input(keys)
  sleep(200)
  api.nvim_input([[<C-\><C-n>]])
  sleep(50)
end

local function wait_screen(term, pattern, timeout)
  local ok = wait_until(timeout or 30000, function()
    return screen(term.buf):find(pattern) ~= nil
  end)
  assert(ok, ('%q never appeared; screen:\n%s'):format(pattern, screen(term.buf)))
end

local term
local function main()
  step('open', function()
    vim.cmd('BackendAI terminal')
    term = require('backendai.terminal').by_buf[api.nvim_get_current_buf()]
    assert(term, 'no terminal buffer after :BackendAI terminal')
    assert(wait_until(60000, function()
      return term.id ~= nil or term.closed ~= nil
    end), 'terminal did not open')
    assert(term.id, 'terminal failed: ' .. tostring(term.closed))
    result.session = vim.b[term.buf].backendai_session
    result.buftype = vim.bo[term.buf].buftype
    result.windows = #api.nvim_tabpage_list_wins(0)
  end)
  step('echo', function()
    type_keys(term, 'echo $((6*7))<CR>')
    wait_screen(term, '\n42\n')
    result.echo_screen = screen(term.buf)
  end)
  step('resize', function()
    api.nvim_set_current_win(vim.fn.bufwinid(term.buf))
    vim.cmd('resize 9')
    wait_until(2000, function()
      return term.size and term.size[2] == 9
    end)
    result.sent_size = term.size
    type_keys(term, 'stty size<CR>')
    wait_screen(term, '\n9 %d+\n')
    result.stty = screen(term.buf):match('\n(9 %d+)\n')
    local win = vim.fn.bufwinid(term.buf)
    result.window = { api.nvim_win_get_width(win), api.nvim_win_get_height(win) }
  end)
  step('exit', function()
    type_keys(term, 'exit<CR>')
    assert(wait_until(30000, function()
      return term.closed ~= nil
    end), 'terminal did not close')
    result.closed = term.closed
    result.closed_var = vim.b[term.buf].backendai_terminal_closed
    result.final_screen = screen(term.buf)
  end)
  step('apps', function()
    api.nvim_set_current_win(vim.fn.bufwinid(demo_buf))
    local finished
    api.nvim_create_autocmd('User', {
      pattern = 'BackendAIRunFinished',
      once = true,
      callback = function(ev)
        finished = ev.data
      end,
    })
    vim.cmd('BackendAI run_file')
    assert(wait_until(60000, function()
      return finished ~= nil
    end), 'the server run did not finish')
    result.serve_run = finished.status
    local opened
    vim.ui.open = function(url)
      opened = url
      return nil, nil
    end
    local offered
    vim.ui.select = function(items, opts, on_choice)
      offered = vim.tbl_map(opts.format_item, items)
      on_choice(items[1], 1)
    end
    vim.cmd('BackendAI apps')
    assert(wait_until(30000, function()
      return opened ~= nil
    end), 'no URL was opened')
    result.offered = offered
    result.url = opened
    local done
    vim.system({
      'python3',
      '-c',
      'import sys,urllib.request;print(urllib.request.urlopen(sys.argv[1],timeout=20).read().decode())',
      opened,
    }, { text = true }, function(out)
      done = out
    end)
    assert(wait_until(30000, function()
      return done ~= nil
    end), 'the page was not fetched')
    result.page = done.stdout
    result.fetch_stderr = done.stderr
  end)
end

coroutine.wrap(function()
  local ok, err = xpcall(main, debug.traceback)
  result.ok = ok
  result.error = (not ok) and tostring(err) or nil
  save()
  for _, c in ipairs(vim.lsp.get_clients({ name = 'backendai' })) do
    c:stop()
  end
  wait_until(10000, function()
    return #vim.lsp.get_clients({ name = 'backendai' }) == 0
  end)
  vim.cmd('qa!')
end)()
