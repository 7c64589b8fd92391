-- Drives the live-session features of the Neovim plugin in a real headless Neovim against a
-- real bai-lsp (embedded gateway), with a second language server attached to the same
-- buffer: completion through the built-in client from both servers, :BackendAI vars,
-- :BackendAI inspect with paging, :BackendAI export. Writes what happened to $BAI_RESULT.
-- Env: BAI_PLUGIN, BAI_LSP, BAI_DEMO (live.py), BAI_RESULT, BAI_PYTHON, BAI_OTHER_SERVER
-- (the second server), BAI_EXPORT (the notebook path).
-- Run with `nvim --headless -u NONE -l live.lua`.
local common = dofile(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)) .. '/common.lua')
local env = vim.env
local api = vim.api
local result = { notifications = {} }

local save = common.start(result)

local bai = require('backendai')
assert(bai.setup({ cmd = { env.BAI_LSP }, settings = { onExit = 'destroy' } }))

vim.cmd('edit ' .. vim.fn.fnameescape(env.BAI_DEMO))
local buf = api.nvim_get_current_buf()
local root = vim.fs.dirname(env.BAI_DEMO)

-- the user's other language server on the same buffer
local other = vim.lsp.start({ name = 'other', cmd = { env.BAI_PYTHON, env.BAI_OTHER_SERVER }, root_dir = root }, { bufnr = buf })

--- Call `fn(done)` and wait until it calls `done(...)`; returns what it was given.
local function await(timeout, fn)
  local got
  fn(function(...)
    got = { ... }
  end)
  vim.wait(timeout, function()
    return got ~= nil
  end, 20)
  return got
end

--- Completion at (line, character) through the built-in client: every attached server's
--- labels by client name, and whether bai-lsp said the list is incomplete.
local function complete(line, character)
  local got = await(20000, function(done)
    vim.lsp.buf_request_all(buf, 'textDocument/completion', {
      textDocument = { uri = vim.uri_from_bufnr(buf) },
      position = { line = line, character = character },
    }, done)
  end)
  local by_client = {}
  for id, answer in pairs(got and got[1] or {}) do
    local client = vim.lsp.get_client_by_id(id)
    local items = answer.result and (answer.result.items or answer.result) or {}
    local labels = {}
    for _, item in ipairs(items) do
      labels[#labels + 1] = item.label
    end
    by_client[client and client.name or tostring(id)] = {
      labels = labels,
      incomplete = answer.result and answer.result.isIncomplete or false,
      null = answer.result == nil,
    }
  end
  return by_client
end

local function float_lines()
  local win = api.nvim_get_current_win()
  local config = api.nvim_win_get_config(win)
  if config.relative == '' then
    return nil
  end
  return api.nvim_buf_get_lines(api.nvim_win_get_buf(win), 0, -1, false)
end

local function run_line(n)
  local got = await(120000, function(done)
    bai.run({ line1 = n, line2 = n }, done)
  end)
  return got and got[2]
end

local ok, err = xpcall(function()
  vim.wait(20000, function()
    local c = other and vim.lsp.get_client_by_id(other)
    return c ~= nil and c.initialized
  end, 20)
  result.omnifunc = vim.bo[buf].omnifunc

  -- before any run: only the other server answers
  result.before = complete(1, 3)

  result.first_run = run_line(1)
  result.after_run = complete(1, 3)
  result.module = complete(2, 7)

  -- :BackendAI vars
  local vars = await(30000, function(done)
    bai.vars(done)
  end)
  result.vars = vars and vars[2]
  result.vars_float = float_lines()
  result.vars_float_title = api.nvim_win_get_config(0).title
  vim.cmd('close')

  -- a DataFrame, paged with n / p in the inspect float
  result.frame_run = run_line(4)
  local pages = {}
  local first = await(30000, function(done)
    bai.inspect('df', 0, function(e, r, float)
      pages[#pages + 1] = { err = e, rows = r and r.rows and #r.rows.data, lines = float_lines() }
      if #pages == 1 then
        done(e, r, float)
      end
    end)
  end)
  result.inspect_first = first and first[2]
  vim.wait(100)
  api.nvim_feedkeys('n', 'x', false)
  vim.wait(30000, function()
    return #pages >= 2
  end, 20)
  result.pages = pages
  vim.cmd('close')

  -- :BackendAI export
  local exported = await(30000, function(done)
    bai.export(env.BAI_EXPORT, done)
  end)
  result.export = exported and exported[2]
  result.export_err = exported and exported[1]
end, debug.traceback)
result.ok = ok
result.error = (not ok) and tostring(err) or nil
save()
for _, client in ipairs(vim.lsp.get_clients()) do
  client:stop()
end
vim.wait(3000, function()
  return #vim.lsp.get_clients() == 0
end, 50)
os.exit(ok and 0 or 1)
