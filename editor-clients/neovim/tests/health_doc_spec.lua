local h = require('helpers')

local root = vim.fs.dirname(vim.fs.dirname(vim.fs.normalize(debug.getinfo(1, 'S').source:sub(2))))

return {
  {
    ':checkhealth backendai runs and reports each part',
    function()
      h.reset()
      vim.cmd('checkhealth backendai')
      local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
      vim.cmd('bwipeout!')
      h.matches('backendai: Neovim', text)
      h.matches('options are valid', text)
      h.matches('backendai: server', text)
      h.matches('backendai: media', text)
      assert(not text:find('No healthcheck found'), text)
    end,
  },
  {
    'doc/backendai.txt builds help tags and every |link| resolves',
    function(tmp)
      local doc = tmp .. '/doc'
      vim.fn.mkdir(doc, 'p')
      vim.fn.writefile(vim.fn.readfile(root .. '/doc/backendai.txt'), doc .. '/backendai.txt')
      vim.cmd('helptags ' .. vim.fn.fnameescape(doc))
      local tags = {}
      for _, l in ipairs(vim.fn.readfile(doc .. '/tags')) do
        tags[l:match('^[^\t]+')] = true
      end
      for _, want in ipairs({ 'backendai.txt', ':BackendAI', 'backendai.setup()', 'backendai.status()', 'backendai-options' }) do
        assert(tags[want], 'missing help tag *' .. want .. '*')
      end
      local text = table.concat(vim.fn.readfile(doc .. '/backendai.txt'), '\n')
      for link in text:gmatch('|([^|%s]+)|') do
        if link:match('^backendai') or link:match('^:BackendAI') then
          assert(tags[link], 'unresolved link |' .. link .. '|')
        end
      end
    end,
  },
}
