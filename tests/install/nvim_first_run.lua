-- A new user's first session with the release's Neovim plugin (unpacked into
-- ~/.local/share/nvim/site/pack/*/start): `:BackendAI install`, then `:BackendAI run` on a
-- line with print(1), then :checkhealth backendai; then the same plugin told it speaks
-- another protocol version warns when the server connects. Run by
-- tests/install/test_first_run.py as `nvim --headless -c "luafile nvim_first_run.lua"`.
-- Env: BAI_FILE (hello.py), BAI_RESULT (JSON written here).
local result = { notifications = {} }
local function save()
  local f = assert(io.open(vim.env.BAI_RESULT, 'w'))
  f:write(vim.json.encode(result))
  f:close()
end
vim.notify = function(msg, level)
  table.insert(result.notifications, { msg = msg, level = level })
  io.stderr:write(('NOTIFY %s %s\n'):format(level, msg))
end

local ok, err = pcall(function()
  result.command_defined = vim.fn.exists(':BackendAI') == 2
  vim.cmd('BackendAI install')
  result.installed = require('backendai.install').server()

  vim.cmd('edit ' .. vim.fn.fnameescape(vim.env.BAI_FILE))
  local src = vim.api.nvim_get_current_buf()
  local done
  vim.api.nvim_create_autocmd('User', {
    pattern = 'BackendAIRunFinished',
    callback = function(ev)
      done = ev.data
    end,
  })
  vim.cmd('BackendAI run')
  result.finished = vim.wait(180000, function()
    return done ~= nil
  end, 100)
  result.run = done
  result.output = require('backendai').output_lines(src)

  vim.cmd('checkhealth backendai')
  result.health = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  vim.cmd('bwipeout!')

  -- a plugin of another protocol version against this server: a warning names both
  for _, client in ipairs(vim.lsp.get_clients({ name = 'backendai' })) do
    client:stop(true)
  end
  vim.wait(10000, function()
    return #vim.lsp.get_clients({ name = 'backendai' }) == 0
  end, 100)
  require('backendai.version').protocol = 99
  result.notifications_before_mismatch = #result.notifications
  vim.cmd('buffer ' .. src)
  vim.cmd('BackendAI status')
  vim.wait(60000, function()
    for i = result.notifications_before_mismatch + 1, #result.notifications do
      if result.notifications[i].msg:find('protocol version') then
        return true
      end
    end
    return false
  end, 100)
end)
result.error = not ok and tostring(err) or nil
save()
for _, client in ipairs(vim.lsp.get_clients({ name = 'backendai' })) do
  client:stop(true)
end
vim.cmd('qa!')
