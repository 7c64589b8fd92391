-- Drives `:BackendAI configure`, `:BackendAI folders` and the statusline countdown in a real
-- headless Neovim against a real bai-lsp and a gateway with a 200 s idle timeout (so the
-- countdown shows and the 5-minute warning fires). Writes what happened to $BAI_RESULT.
-- Env: BAI_PLUGIN, BAI_LSP, BAI_DEMO (read.py), BAI_RESULT, BAI_ENDPOINT, BAI_AK, BAI_SK,
-- BAI_UPLOAD (a local file), BAI_DOWNLOAD (a local path that does not exist yet).
-- Run with `nvim --headless -u NONE -c 'luafile launcher.lua'`.
local common = dofile(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)) .. '/common.lua')
local env = vim.env
local api = vim.api
local result = { notifications = {}, steps = {} }

local save = common.start(result)

local bai = require('backendai')
assert(bai.setup({
  cmd = { env.BAI_LSP },
  settings = {
    endpoint = env.BAI_ENDPOINT,
    accessKey = env.BAI_AK,
    secretKey = env.BAI_SK,
    onExit = 'destroy',
  },
}))

vim.cmd('edit ' .. vim.fn.fnameescape(env.BAI_DEMO))
local demo_buf = api.nvim_get_current_buf()

local sleep, wait_until = common.sleep, common.wait_until
local step = common.stepper(result, save)

local function lines(buf)
  return api.nvim_buf_get_lines(buf, 0, -1, false)
end

local function press_on(view, text, key)
  local row
  for i, line in ipairs(lines(view.buf)) do
    if vim.startswith(line, text) then
      row = i
    end
  end
  assert(row, ('%q is not listed: %s'):format(text, vim.inspect(lines(view.buf))))
  api.nvim_set_current_buf(view.buf)
  api.nvim_win_set_cursor(0, { row, 0 })
  api.nvim_input(key)
  sleep(50)
end

local function main()
  step('configure', function()
    local prompts = {}
    vim.ui.select = function(items, opts, on_choice)
      local shown = vim.tbl_map(opts.format_item or tostring, items)
      prompts[#prompts + 1] = { prompt = opts.prompt, items = shown }
      local want = ({
        ['Backend.AI image'] = '^python',
        ['Resource preset'] = '^cpu02%-medium',
        ['Resource group'] = '^default',
        ['Mount a vfolder'] = '^launcher%-data$',
      })[opts.prompt]
      for i, text in ipairs(shown) do
        if want and text:find(want) then
          return on_choice(items[i], i)
        end
      end
      on_choice(nil, nil)
    end
    local answer
    api.nvim_set_current_buf(demo_buf)
    vim.cmd('BackendAI configure')
    assert(wait_until(60000, function()
      return answer ~= nil
        or vim.tbl_contains(
          vim.tbl_map(function(n)
            return n.msg:find('Saved:') ~= nil
          end, result.notifications),
          true
        )
    end), 'configure did not finish')
    result.prompts = prompts
  end)
  step('countdown', function()
    local finished
    api.nvim_create_autocmd('User', {
      pattern = 'BackendAIRunFinished',
      once = true,
      callback = function(ev)
        finished = ev.data
      end,
    })
    api.nvim_set_current_buf(demo_buf)
    vim.cmd('BackendAI run_file')
    assert(wait_until(90000, function()
      return finished ~= nil
    end), 'the run did not finish')
    result.run = finished
    result.output = bai.output_lines(demo_buf)
    local status
    bai.session_status(function(err, r)
      status = r or { error = err }
    end)
    assert(wait_until(30000, function()
      return status ~= nil
    end), 'no status answer')
    result.status = status
    result.statusline = bai.status(demo_buf)
  end)
  step('folders', function()
    local view = bai.folders()
    assert(wait_until(30000, function()
      return #view.entries > 0
    end), 'no vfolders listed')
    result.folder_list = lines(view.buf)
    press_on(view, 'launcher-data/', '<CR>')
    assert(wait_until(30000, function()
      return view.name == 'launcher-data' and #view.entries > 0
    end), 'the vfolder did not open')
    result.folder_files = lines(view.buf)
    local uploaded
    require('backendai.launcher').upload(view, env.BAI_UPLOAD, function(err)
      uploaded = err or true
    end)
    assert(wait_until(60000, function()
      return uploaded ~= nil
    end), 'upload did not finish')
    result.after_upload = lines(view.buf)
    local got
    local entry
    for _, e in ipairs(view.entries) do
      if e.name == 'hello.txt' then
        entry = e
      end
    end
    require('backendai.launcher').download(view, entry, env.BAI_DOWNLOAD, function(err, r)
      got = r or { error = err }
    end)
    assert(wait_until(60000, function()
      return got ~= nil
    end), 'download did not finish')
    result.download = got
    press_on(view, 'hello.txt', '<CR>')
    assert(wait_until(30000, function()
      return vim.b.backendai_vfolder ~= nil
    end), 'the vfolder file did not open')
    result.opened_name = api.nvim_buf_get_name(0)
    result.opened = lines(0)
  end)
end

coroutine.wrap(function()
  local ok, err = xpcall(main, debug.traceback)
  result.ok = ok
  result.error = (not ok) and tostring(err) or nil
  save()
  for _, c in ipairs(vim.lsp.get_clients({ name = 'backendai' })) do
    c:stop()
  end
  wait_until(10000, function()
    return #vim.lsp.get_clients({ name = 'backendai' }) == 0
  end)
  vim.cmd('qa!')
end)()
