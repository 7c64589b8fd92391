---@mod backendai.text Pure helpers: turning streamed console text into buffer lines.
---
--- Output arrives in arbitrary chunks: a line may be split across notifications, and
--- progress bars rewrite their line with "\r". These functions hold no state of their own
--- so they can be tested without a buffer.

local M = {}

--- Remove ANSI escape sequences (colours, cursor movement, OSC titles).
---@param s string
---@return string
function M.strip_ansi(s)
  s = s:gsub('\27%][^\7\27]*\7', '') -- OSC ... BEL
  s = s:gsub('\27%][^\27]*\27\\', '') -- OSC ... ST
  s = s:gsub('\27%[[0-9;?<=>]*[ -/]*[@-~]', '') -- CSI
  s = s:gsub('\27[@-Z\\-_]', '') -- other two-byte escapes
  return s
end

--- Write `seg` over `line` from column 0, as a terminal does after "\r".
local function overwrite(line, seg)
  if #seg >= #line then
    return seg
  end
  return seg .. line:sub(#seg + 1)
end

---@class backendai.Assembled
---@field lines string[] lines that replace the open line (or are appended when there was none)
---@field open string|nil the unfinished last line, nil when the chunk ended with a newline
---@field cr boolean the chunk ended with "\r": the next text overwrites the open line

--- Fold one chunk of console text into the lines it produces.
---@param open string|nil the run's unfinished last line (nil: none)
---@param cr boolean the previous chunk ended with "\r"
---@param chunk string
---@return backendai.Assembled
function M.assemble(open, cr, chunk)
  chunk = M.strip_ansi(chunk):gsub('\r\n', '\n')
  local parts = vim.split(chunk, '\n', { plain = true })
  local lines = {}
  local cur = open or ''
  for i, part in ipairs(parts) do
    if i > 1 then
      lines[#lines + 1] = cur
      cur = ''
      cr = false
    end
    local segs = vim.split(part, '\r', { plain = true })
    for j, seg in ipairs(segs) do
      if j > 1 then
        cr = true
      end
      if seg ~= '' then
        cur = cr and overwrite(cur, seg) or (cur .. seg)
        cr = false
      end
    end
  end
  local ends_closed = #parts > 1 and parts[#parts] == ''
  if ends_closed then
    return { lines = lines, open = nil, cr = false }
  end
  lines[#lines + 1] = cur
  return { lines = lines, open = cur, cr = cr }
end

--- "1.2 s", "340 ms", "2 min 5 s".
---@param ms number|nil
---@return string
function M.duration(ms)
  if type(ms) ~= 'number' then
    return '?'
  end
  if ms < 1000 then
    return ('%d ms'):format(ms)
  elseif ms < 60000 then
    return ('%.1f s'):format(ms / 1000)
  end
  local s = math.floor(ms / 1000)
  return ('%d min %d s'):format(math.floor(s / 60), s % 60)
end

local EXTENSIONS = {
  ['image/png'] = 'png',
  ['image/jpeg'] = 'jpg',
  ['image/gif'] = 'gif',
  ['image/svg+xml'] = 'svg',
  ['image/webp'] = 'webp',
  ['text/html'] = 'html',
  ['application/pdf'] = 'pdf',
  ['text/plain'] = 'txt',
  ['application/json'] = 'json',
  ['text/latex'] = 'tex',
  ['text/markdown'] = 'md',
}

--- File extension for a MIME type.
---@param mime string
---@return string
function M.extension(mime)
  return EXTENSIONS[mime] or (mime:match('^image/([%w]+)$')) or 'bin'
end

--- MIME types whose `data` is base64 (the rest is text, e.g. SVG's XML).
---@param mime string
---@return boolean
function M.is_base64(mime)
  return mime ~= 'image/svg+xml' and not mime:match('^text/') and mime ~= 'application/json'
end

--- Name for the n-th media file of a run.
---@param run_id string
---@param n integer
---@param mime string
---@return string
function M.media_name(run_id, n, mime)
  local safe = tostring(run_id):gsub('[^%w%-_]', '_'):sub(1, 40)
  return ('%s-%s-%d.%s'):format(os.date('%Y%m%d-%H%M%S'), safe, n, M.extension(mime))
end

--- First line of a run's footer.
---@param result table RunResult (+uri, outputFile)
---@return string
function M.footer(result)
  local parts = { ('■ %s'):format(result.status or 'finished') }
  if result.exitCode ~= nil and result.exitCode ~= vim.NIL then
    parts[#parts + 1] = ('exit %s'):format(result.exitCode)
  end
  if result.durationMs ~= nil and result.durationMs ~= vim.NIL then
    parts[#parts + 1] = M.duration(result.durationMs)
  end
  local line = table.concat(parts, ' · ')
  if type(result.message) == 'string' and result.message ~= '' then
    line = line .. ' · ' .. result.message:gsub('\n', ' ')
  end
  return line
end

return M
