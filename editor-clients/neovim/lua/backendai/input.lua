---@mod backendai.input Answering `backendai/input`: a program on the session asks for a line.
---
--- The server sends the request `backendai/input` {runId, prompt, password} and waits for
--- {text} (or null, which cancels and interrupts the run). Ordinary prompts go through
--- vim.ui.input, so dressing.nvim, snacks.nvim and friends can restyle them; password
--- prompts use inputsecret() so the answer is never echoed or kept in history. The server
--- appends the answer to the run's output itself (only the newline for a password).

local M = {}

--- The prompt text to show: the program's own prompt, or a generic one.
---@param params {prompt: string|nil, password: boolean|nil}
---@return string
function M.prompt_text(params)
  local prompt = type(params.prompt) == 'string' and params.prompt or ''
  prompt = prompt:gsub('[\r\n]', '')
  if vim.trim(prompt) == '' then
    prompt = params.password and 'Password: ' or 'Input: '
  end
  return prompt
end

local function ask_password(prompt)
  -- <C-c> at an inputsecret() prompt raises "Keyboard interrupt": that is a cancel
  local ok, text = pcall(vim.fn.inputsecret, prompt)
  if not ok then
    return nil
  end
  return text
end

local function ask_line(prompt)
  local co, is_main = coroutine.running()
  if co and not is_main then
    vim.ui.input({ prompt = prompt }, function(text)
      -- resume later: the default vim.ui.input calls back before we yield
      vim.schedule(function()
        coroutine.resume(co, text)
      end)
    end)
    return coroutine.yield()
  end
  -- no coroutine to suspend (an old Neovim): ask synchronously
  local ok, text = pcall(vim.fn.input, { prompt = prompt, cancelreturn = vim.NIL })
  if not ok or text == vim.NIL then
    return nil
  end
  return text
end

--- Handler of the `backendai/input` request.
---@param _ any
---@param params {runId: string, prompt: string|nil, password: boolean|nil}
---@return table|userdata result {text} or vim.NIL (cancel)
function M.handle(_, params, _)
  params = params or {}
  local prompt = M.prompt_text(params)
  local answer
  if params.password then
    answer = ask_password(prompt)
  else
    answer = ask_line(prompt)
  end
  if answer == nil then
    return vim.NIL
  end
  return { text = answer }
end

return M
