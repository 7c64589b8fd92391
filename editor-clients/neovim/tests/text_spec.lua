local h = require('helpers')
local text = require('backendai.text')

return {
  {
    'whole lines',
    function()
      h.eq({ lines = { 'a', 'b' }, open = nil, cr = false }, text.assemble(nil, false, 'a\nb\n'))
    end,
  },
  {
    'a line split across chunks continues the open line',
    function()
      local a = text.assemble(nil, false, 'hel')
      h.eq({ lines = { 'hel' }, open = 'hel', cr = false }, a)
      a = text.assemble(a.open, a.cr, 'lo\nwor')
      h.eq({ lines = { 'hello', 'wor' }, open = 'wor', cr = false }, a)
      a = text.assemble(a.open, a.cr, 'ld\n')
      h.eq({ lines = { 'world' }, open = nil, cr = false }, a)
    end,
  },
  {
    'carriage return rewrites the line like a terminal',
    function()
      local a = text.assemble(nil, false, 'progress   0%')
      a = text.assemble(a.open, a.cr, '\rprogress  50%')
      h.eq({ 'progress  50%' }, a.lines)
      a = text.assemble(a.open, a.cr, '\r')
      h.eq(true, a.cr)
      a = text.assemble(a.open, a.cr, 'done')
      h.eq({ 'doneress  50%' }, a.lines, 'shorter text overwrites only its own columns')
      h.eq({ lines = { 'x' }, open = nil, cr = false }, text.assemble(nil, false, 'x\r\n'))
      h.eq({ 'bbb' }, text.assemble(nil, false, 'aaa\rbbb\rb\r\n').lines)
    end,
  },
  {
    'ANSI colours and cursor codes are removed',
    function()
      h.eq('green text', text.strip_ansi('\27[32mgreen text\27[0m'))
      h.eq('ab', text.strip_ansi('a\27[2K\27[1Gb'))
      h.eq('title', text.strip_ansi('\27]0;x\7title'))
      h.eq({ 'red' }, text.assemble(nil, false, '\27[31mred\27[0m\n').lines)
    end,
  },
  {
    'footer, duration, media names',
    function()
      h.eq('■ finished · exit 0 · 1.2 s', text.footer({ status = 'finished', exitCode = 0, durationMs = 1234 }))
      h.eq(
        '■ interrupted · exit 130 · 340 ms · stopped by the user',
        text.footer({ status = 'interrupted', exitCode = 130, durationMs = 340, message = 'stopped by the user' })
      )
      h.eq('2 min 5 s', text.duration(125000))
      h.eq('png', text.extension('image/png'))
      h.eq('svg', text.extension('image/svg+xml'))
      h.eq('bin', text.extension('application/x-unknown'))
      h.eq(true, text.is_base64('image/png'))
      h.eq(false, text.is_base64('image/svg+xml'))
      h.matches('^%d+%-%d+%-run_1%-2%.png$', text.media_name('run/1', 2, 'image/png'))
    end,
  },
}
