---@mod backendai.live The live session: variables and data floats, export of the run log.
---
--- Completion and hover need nothing here: bai-lsp answers `textDocument/completion` and
--- `textDocument/hover` from the session, and Neovim's built-in client merges them with the
--- other servers of the buffer (`<C-x><C-o>` through `vim.lsp.omnifunc`, `K` for hover,
--- or any completion plugin that reads LSP sources).

local lsp = require('backendai.lsp')

local M = {}

local api = vim.api

--- Rows per page of `:BackendAI inspect` (the server's default).
M.page_size = 50

local function notify(msg, level)
  vim.notify('BackendAI: ' .. msg, level or vim.log.levels.INFO)
end

local function cell(value)
  if value == vim.NIL or value == nil then
    return ''
  end
  return (tostring(value):gsub('\n', ' '))
end

--- Lines of a table whose columns are padded to their widest cell.
---@param header string[]
---@param rows string[][]
---@return string[]
function M.align(header, rows)
  local widths = {}
  for _, row in ipairs({ header, unpack(rows) }) do
    for i, text in ipairs(row) do
      widths[i] = math.max(widths[i] or 0, vim.fn.strdisplaywidth(text))
    end
  end
  local lines = {}
  for _, row in ipairs({ header, unpack(rows) }) do
    local parts = {}
    for i, text in ipairs(row) do
      local pad = i < #row and (' '):rep(widths[i] - vim.fn.strdisplaywidth(text)) or ''
      parts[i] = text .. pad
    end
    lines[#lines + 1] = table.concat(parts, '  ')
  end
  return lines
end

--- The lines of the variables float.
---@param result {variables: table[]}
---@return string[]
function M.format_variables(result)
  local rows = {}
  for _, v in ipairs(result.variables or {}) do
    local size = ''
    if type(v.shape) == 'table' then
      size = table.concat(vim.tbl_map(tostring, v.shape), '×')
    elseif v.size ~= nil and v.size ~= vim.NIL then
      size = tostring(v.size)
    end
    rows[#rows + 1] = { v.name, v.type, size, cell(v.summary) }
  end
  if #rows == 0 then
    return { '(no variables)' }
  end
  return M.align({ 'name', 'type', 'size', 'value' }, rows)
end

--- The lines of a data page (`backendai.session.inspect`).
---@param result table
---@param offset integer
---@return string[]
function M.format_page(result, offset)
  local lines = { ('%s: %s — %s'):format(result.name, result.type, cell(result.summary)) }
  local rows = result.rows
  if type(rows) ~= 'table' then
    return lines
  end
  local data = {}
  for _, row in ipairs(rows.data) do
    data[#data + 1] = vim.tbl_map(cell, row)
  end
  vim.list_extend(lines, M.align(rows.columns, data))
  local last = offset + #rows.data
  lines[#lines + 1] = ('rows %d–%d of %d  (n: next page, p: previous, q: close)'):format(
    #rows.data > 0 and offset + 1 or offset,
    last,
    rows.total
  )
  return lines
end

--- Show `lines` in a centred float; `q` closes it. Reuses `state.win` when still open.
local function show(lines, title, state)
  local buf = state and state.buf
  if not (buf and api.nvim_buf_is_valid(buf)) then
    buf = api.nvim_create_buf(false, true)
    vim.bo[buf].bufhidden = 'wipe'
    vim.keymap.set('n', 'q', '<cmd>close<cr>', { buffer = buf, nowait = true })
  end
  vim.bo[buf].modifiable = true
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  local width = 20
  for _, line in ipairs(lines) do
    width = math.max(width, vim.fn.strdisplaywidth(line))
  end
  width = math.min(width, vim.o.columns - 4)
  local height = math.min(#lines, math.max(vim.o.lines - 6, 3))
  local opts = {
    relative = 'editor',
    width = width,
    height = height,
    row = math.floor((vim.o.lines - height) / 2) - 1,
    col = math.floor((vim.o.columns - width) / 2),
    style = 'minimal',
    border = 'rounded',
    title = ' ' .. title .. ' ',
  }
  local win = state and state.win
  if win and api.nvim_win_is_valid(win) then
    api.nvim_win_set_config(win, opts)
  else
    win = api.nvim_open_win(buf, true, opts)
  end
  return { buf = buf, win = win }
end

--- `:BackendAI vars`: the session's variables in a float.
---@param bufnr integer the source buffer
---@param on_done fun(err: any, result: table|nil, float: table|nil)|nil
function M.vars(bufnr, on_done)
  lsp.execute(bufnr, 'backendai.session.variables', { uri = vim.uri_from_bufnr(bufnr) }, function(err, result)
    local float
    if err then
      notify(lsp.error_message(err), vim.log.levels.ERROR)
    else
      float = show(M.format_variables(result), 'Backend.AI variables')
    end
    if on_done then
      on_done(err, result, float)
    end
  end)
end

--- `:BackendAI inspect [name] [offset]`: one page of a variable in a float (`n`/`p` page).
---@param bufnr integer
---@param name string|nil defaults to the word under the cursor
---@param offset integer|nil
---@param on_done fun(err: any, result: table|nil, float: table|nil)|nil
---@param state table|nil the float to reuse (paging)
function M.inspect(bufnr, name, offset, on_done, state)
  name = (name and name ~= '') and name or vim.fn.expand('<cword>')
  offset = math.max(offset or 0, 0)
  local argument = { uri = vim.uri_from_bufnr(bufnr), name = name, offset = offset, limit = M.page_size }
  lsp.execute(bufnr, 'backendai.session.inspect', argument, function(err, result)
    local float
    if err then
      notify(lsp.error_message(err), vim.log.levels.ERROR)
    else
      float = show(M.format_page(result, offset), 'Backend.AI ' .. name, state)
      local function page(delta)
        return function()
          local total = type(result.rows) == 'table' and result.rows.total or 0
          local next_offset = offset + delta
          if next_offset >= 0 and next_offset < total then
            M.inspect(bufnr, name, next_offset, on_done, float)
          end
        end
      end
      vim.keymap.set('n', 'n', page(M.page_size), { buffer = float.buf, nowait = true })
      vim.keymap.set('n', 'p', page(-M.page_size), { buffer = float.buf, nowait = true })
    end
    if on_done then
      on_done(err, result, float)
    end
  end)
end

--- `:BackendAI export {path}`: the workspace's runs as a notebook (`.ipynb`) or an HTML page
--- (any other name).
---@param bufnr integer
---@param path string
---@param on_done fun(err: any, result: table|nil)|nil
function M.export(bufnr, path, on_done)
  if not path or path == '' then
    notify('export needs a file name, e.g. :BackendAI export runs.ipynb', vim.log.levels.ERROR)
    return on_done and on_done('no path', nil)
  end
  local full = vim.fn.fnamemodify(vim.fn.expand(path), ':p')
  local format = full:match('%.ipynb$') and 'ipynb' or 'html'
  local root = lsp.root_dir(bufnr)
  local argument = { format = format, path = full }
  if root then
    argument.uri = vim.uri_from_fname(root)
  end
  lsp.execute(bufnr, 'backendai.runs.export', argument, function(err, result)
    if err then
      notify(lsp.error_message(err), vim.log.levels.ERROR)
    else
      notify(('exported %d runs to %s'):format(result.runs, result.path))
    end
    if on_done then
      on_done(err, result)
    end
  end)
end

return M
