-- :BackendAI {run|run_cell|run_file [batch]|interrupt|restart|destroy|start|status|sessions|output|clear|terminal|apps [name]|vars|inspect [name] [offset]|export {path}|install [path]|configure|folders}
-- Defined at startup; the plugin's modules load on first use.
if vim.g.loaded_backendai then
  return
end
vim.g.loaded_backendai = true

if vim.fn.has('nvim-0.10') ~= 1 then
  vim.api.nvim_echo({ { 'backendai.nvim needs Neovim 0.10 or newer', 'ErrorMsg' } }, true, {})
  return
end

vim.api.nvim_create_user_command('BackendAI', function(cmd)
  -- a charwise visual selection: `:'<,'>BackendAI run` from `v` mode
  cmd.charwise = cmd.range > 0 and vim.fn.visualmode() == 'v'
  require('backendai').command(cmd)
end, {
  nargs = '+',
  range = true,
  desc = 'Run code on Backend.AI (run, run_cell, run_file, interrupt, restart, destroy, sessions…)',
  complete = function(arglead, cmdline)
    return require('backendai').complete(arglead, cmdline)
  end,
})

-- Vfolder files opened from :BackendAI folders (bai-vfolder://<vfolder>/<path>).
vim.api.nvim_create_autocmd('BufReadCmd', {
  pattern = 'bai-vfolder://*',
  callback = function(ev)
    require('backendai.launcher').read_cmd(ev)
  end,
})
