local h = require('helpers')
local live = require('backendai.live')

return {
  {
    'the variables float aligns name, type, size and value',
    function()
      local lines = live.format_variables({
        variables = {
          { name = 'df', type = 'DataFrame', summary = '1000 rows x 2 columns', size = 1000, shape = { 1000, 2 } },
          { name = 'xs', type = 'list', summary = '[3, 1, 2]', size = 3 },
          { name = 'n', type = 'int', summary = '42' },
        },
      })
      h.eq({
        'name  type       size    value',
        'df    DataFrame  1000×2  1000 rows x 2 columns',
        'xs    list       3       [3, 1, 2]',
        'n     int                42',
      }, lines)
      h.eq({ '(no variables)' }, live.format_variables({ variables = {} }))
    end,
  },
  {
    'a data page shows its columns, rows and where it is',
    function()
      local lines = live.format_page({
        name = 'df',
        type = 'DataFrame',
        summary = '3 rows x 1 columns',
        rows = { columns = { '', 'n' }, data = { { 1, 10 }, { 2, vim.NIL } }, total = 3 },
      }, 1)
      h.eq('df: DataFrame — 3 rows x 1 columns', lines[1])
      h.eq({ '   n', '1  10', '2  ' }, { lines[2], lines[3], lines[4] })
      h.eq('rows 2–3 of 3  (n: next page, p: previous, q: close)', lines[5])
    end,
  },
}
