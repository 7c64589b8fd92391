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

--- Give the main loop `ms` (the driver runs in a coroutine).
function M.sleep(ms)
  local co = coroutine.running()
  vim.defer_fn(function()
    assert(coroutine.resume(co))
  end, ms)
  coroutine.yield()
end

--- Poll `cond` while the main loop runs; true once it holds, false after `timeout` ms.
function M.wait_until(timeout, cond)
  local deadline = vim.uv.now() + timeout
  while vim.uv.now() < deadline do
    if cond() then
      return true
    end
    M.sleep(50)
  end
  return cond() and true or false
end

--- A `step(name, fn)` that runs `fn`, records it in `result.steps` and saves; a failing
--- step is recorded with its traceback and ends the driver.
function M.stepper(result, save)
  return function(name, fn)
    local ok, err = xpcall(fn, debug.traceback)
    result.steps[#result.steps + 1] = { name = name, ok = ok, error = (not ok) and tostring(err) or nil }
    M.log(('step %s: %s'):format(name, ok and 'ok' or ('ERROR ' .. tostring(err))))
    save()
    if not ok then
      error(err)
    end
  end
end

return M
