---@mod backendai.status Session status per workspace, for the statusline.
---
--- The server reports every session's status (`backendai/sessionStatus`); a workspace
--- may have several sessions (one per image), so the statusline shows the most pressing
--- one: a prompt waiting for an answer beats a busy kernel beats an idle one.

local config = require('backendai.config')

local M = {}

---@class backendai.SessionInfo
---@field workspace string folder URI
---@field sessionName string
---@field status string starting|idle|busy|waiting-input|terminated|error
---@field image string|nil
---@field message string|nil

---@type table<string, table<string, backendai.SessionInfo>> workspace URI → session name → info
M.sessions = {}

---@type table<string, integer> workspace URI → runs started and not finished
M.active_runs = {}

local PRIORITY = {
  ['waiting-input'] = 6,
  busy = 5,
  starting = 4,
  error = 3,
  idle = 2,
  terminated = 1,
}

local function changed(data)
  pcall(vim.api.nvim_exec_autocmds, 'User', {
    pattern = 'BackendAIStatus',
    modeline = false,
    data = data,
  })
  -- redrawstatus only where there is a screen to redraw
  if #vim.api.nvim_list_uis() > 0 then
    pcall(vim.cmd.redrawstatus, { bang = true })
  end
end

--- Record a `backendai/sessionStatus` notification.
---@param info backendai.SessionInfo
function M.update(info)
  if type(info) ~= 'table' or type(info.workspace) ~= 'string' then
    return
  end
  local ws = M.sessions[info.workspace] or {}
  M.sessions[info.workspace] = ws
  ws[info.sessionName or '?'] = info
  changed(info)
end

---@param workspace string
---@param delta integer
function M.count_run(workspace, delta)
  if type(workspace) ~= 'string' then
    return
  end
  M.active_runs[workspace] = math.max(0, (M.active_runs[workspace] or 0) + delta)
  changed({ workspace = workspace, activeRuns = M.active_runs[workspace] })
end

--- Forget the sessions of workspaces whose server went away.
---@param workspaces string[]
function M.forget(workspaces)
  for _, ws in ipairs(workspaces) do
    M.sessions[ws] = nil
    M.active_runs[ws] = nil
  end
  changed({})
end

--- The most pressing session of a workspace.
---@param workspace string
---@return backendai.SessionInfo|nil
function M.top(workspace)
  local best
  for _, info in pairs(M.sessions[workspace] or {}) do
    if not best or (PRIORITY[info.status] or 0) > (PRIORITY[best.status] or 0) then
      best = info
    end
  end
  return best
end

--- The workspace folder URIs of the backendai clients attached to a buffer.
---@param bufnr integer
---@return string[]
function M.workspaces_of(bufnr)
  local out = {}
  for _, client in ipairs(vim.lsp.get_clients({ name = 'backendai', bufnr = bufnr })) do
    for _, folder in ipairs(client.workspace_folders or {}) do
      out[#out + 1] = folder.uri
    end
  end
  return out
end

--- Status of the buffer's workspace as a table (nil when no backendai server serves it).
---@param bufnr integer|nil
---@return {status: string, session: string|nil, image: string|nil, message: string|nil, runs: integer}|nil
function M.get(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local workspaces = M.workspaces_of(bufnr)
  if #workspaces == 0 then
    return nil
  end
  local best, runs = nil, 0
  for _, ws in ipairs(workspaces) do
    local top = M.top(ws)
    if top and (not best or (PRIORITY[top.status] or 0) > (PRIORITY[best.status] or 0)) then
      best = top
    end
    runs = runs + (M.active_runs[ws] or 0)
  end
  if not best then
    return { status = runs > 0 and 'starting' or 'none', runs = runs }
  end
  return {
    status = best.status,
    session = best.sessionName,
    image = best.image,
    message = best.message,
    runs = runs,
  }
end

--- Statusline text, e.g. "BAI busy" or "BAI idle"; "" when the buffer has no server.
---@param bufnr integer|nil
---@return string
function M.text(bufnr)
  local st = M.get(bufnr)
  if not st then
    return ''
  end
  local opts = config.current.statusline
  if st.status == 'none' then
    return opts.prefix
  end
  local label = opts.labels[st.status] or st.status
  local s = opts.prefix ~= '' and (opts.prefix .. ' ' .. label) or label
  if st.runs > 1 then
    s = s .. (' (%d runs)'):format(st.runs)
  end
  if st.status ~= 'terminated' and st.status ~= 'error' then
    local launcher = package.loaded['backendai.launcher']
    for _, ws in ipairs(launcher and M.workspaces_of(bufnr or vim.api.nvim_get_current_buf()) or {}) do
      local countdown = launcher.countdown_text(ws)
      if countdown ~= '' then
        return s .. countdown
      end
    end
  end
  return s
end

return M
