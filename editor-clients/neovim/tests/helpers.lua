-- Small assertion helpers for the specs.
local M = {}

function M.eq(expected, actual, what)
  if not vim.deep_equal(expected, actual) then
    error(
      ('%sexpected %s, got %s'):format(
        what and (what .. ': ') or '',
        vim.inspect(expected),
        vim.inspect(actual)
      ),
      2
    )
  end
end

function M.matches(pattern, s, what)
  if type(s) ~= 'string' or not s:find(pattern) then
    error(('%sexpected a match for %q in %s'):format(what and (what .. ': ') or '', pattern, vim.inspect(s)), 2)
  end
end

--- Capture vim.notify calls made by fn.
function M.notifications(fn)
  local got = {}
  local orig = vim.notify
  vim.notify = function(msg, level)
    got[#got + 1] = { msg = msg, level = level }
  end
  local ok, err = pcall(fn)
  vim.notify = orig
  if not ok then
    error(err, 0)
  end
  return got
end

--- Fresh plugin state: options back to defaults, no output buffers.
function M.reset()
  local config = require('backendai.config')
  config.current = vim.deepcopy(config.defaults)
  local output = require('backendai.output')
  for _, view in pairs(output.views) do
    if vim.api.nvim_buf_is_valid(view.buf) then
      vim.api.nvim_buf_delete(view.buf, { force = true })
    end
  end
  output.views = {}
  output.runs = {}
  vim.cmd('silent! only')
end

return M
