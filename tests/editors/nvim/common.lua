-- What every Neovim test driver starts with: the plugin from $BAI_PLUGIN loaded with
-- filetype detection, each vim.notify recorded in `result.notifications` (and logged to
-- stderr), and save() writing `result` to $BAI_RESULT for the Python side to read.
-- Loaded with dofile() by the drivers next to it.
local M = {}

function M.log(...)
  io.stderr:write(table.concat(vim.tbl_map(tostring, { ... }), ' ') .. '\n')
end

--- Load the plugin and record notifications into `result`; returns the save function and
--- the vim.notify that was replaced.
function M.start(result)
  result.notifications = result.notifications or {}
  vim.opt.runtimepath:prepend(vim.env.BAI_PLUGIN)
  vim.cmd('runtime plugin/backendai.lua')
  vim.cmd('filetype on')
  local orig_notify = vim.notify
  vim.notify = function(msg, level)
    table.insert(result.notifications, { msg = msg, level = level })
    M.log('NOTIFY', level, msg)
  end
  local function save()
    local f = assert(io.open(vim.env.BAI_RESULT, 'w'))
    f:write(vim.json.encode(result))
    f:close()
  end
  return save, orig_notify
end

return M
