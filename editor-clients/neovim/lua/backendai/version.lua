--- The plugin's release version and the protocol version it speaks (docs/protocol.md,
--- "Versions"); scripts/check_versions.py keeps both equal to the server's.
return {
  version = '0.1.0',
  protocol = 1,
}
