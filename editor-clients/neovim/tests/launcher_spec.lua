local h = require('helpers')
local launcher = require('backendai.launcher')

return {
  {
    'presets read as cpu and GiB in the picker',
    function()
      h.eq('cpu 2, mem 4.0 GiB', launcher.describe_slots({ cpu = '2', mem = '4294967296' }))
    end,
  },
  {
    'countdowns read as m:ss or h:mm:ss and warn once under 5 minutes',
    function()
      local notes = h.notifications(function()
        launcher.record({
          workspace = 'file:///w',
          sessionName = 's1',
          idleRemainingSeconds = 299,
          lifetimeRemainingSeconds = 7200,
        })
        launcher.record({ workspace = 'file:///w', sessionName = 's1', idleRemainingSeconds = 290 })
      end)
      h.eq(1, #notes)
      h.matches('session s1 ends in 4:59 %(idle for too long%)', notes[1].msg)
      h.eq(' idle 4:50', launcher.countdown_text('file:///w'))
      launcher.record({ workspace = 'file:///w', idleRemainingSeconds = 600, lifetimeRemainingSeconds = 7200 })
      h.eq(' idle 10:00 · life 2:00:00', launcher.countdown_text('file:///w'))
    end,
  },
}
