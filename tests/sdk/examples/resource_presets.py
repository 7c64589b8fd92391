"""ResourcePreset example (the SDK's ``Resource`` functional API, unchanged calls).

Lists the presets, checks them against what is left (``allocatable``) and lists the
resource groups of the project; prints one JSON document.
"""

import json

from ai.backend.client.session import Session

with Session() as api_session:
    presets = api_session.Resource.list()
    checked = api_session.Resource.check_presets()
    groups = api_session.ScalingGroup.list_available("default")
    print(json.dumps({"presets": presets, "checked": checked, "groups": groups}))
