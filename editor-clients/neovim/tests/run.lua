-- Unit specs of the Neovim plugin, in a real Neovim:
--   nvim --headless -u NONE -l editor-clients/neovim/tests/run.lua [spec-name-filter]
-- Each tests/*_spec.lua returns a list of {name, fn}; a failing assert fails that case.
-- Ends with "N passed, N failed" and exits non-zero on any failure.
local here = vim.fs.dirname(vim.fs.normalize(debug.getinfo(1, 'S').source:sub(2)))
local root = vim.fs.dirname(here)
vim.opt.runtimepath:prepend(root)
package.path = here .. '/?.lua;' .. package.path
vim.cmd('runtime plugin/backendai.lua')
-- keep test caches out of the user's home
local tmp = vim.fn.tempname()
vim.fn.mkdir(tmp, 'p')

local filter = _G.arg and _G.arg[1]
local passed, failed = 0, 0
local files = vim.fn.glob(here .. '/*_spec.lua', false, true)
table.sort(files)
for _, file in ipairs(files) do
  local spec = dofile(file)
  local mod = vim.fn.fnamemodify(file, ':t:r')
  for _, case in ipairs(spec) do
    local name = mod .. ': ' .. case[1]
    if not filter or name:find(filter, 1, true) then
      local ok, err = xpcall(case[2], debug.traceback, tmp)
      if ok then
        passed = passed + 1
        io.stdout:write('ok   ' .. name .. '\n')
      else
        failed = failed + 1
        io.stdout:write('FAIL ' .. name .. '\n' .. tostring(err) .. '\n')
      end
    end
  end
end
io.stdout:write(('%d passed, %d failed\n'):format(passed, failed))
os.exit(failed == 0 and passed > 0 and 0 or 1)
