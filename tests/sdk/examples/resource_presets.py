"""ResourcePreset example (the SDK's ``Resource`` functional API, unchanged calls).

Lists the presets, checks them against what is left (``allocatable``) and lists the
resource groups of the project; prints one JSON document. The newest SDK passes the project
(a 26.09 manager requires it); 23.9.10's ``check_presets`` takes no argument (and sends no
body, which a 26.09 manager refuses as a malformed body).
"""

import inspect
import json

from ai.backend.client.session import Session

with Session() as api_session:
    presets = api_session.Resource.list()
    takes_group = "group" in inspect.signature(api_session.Resource.check_presets).parameters
    checked = (
        api_session.Resource.check_presets(group="default")
        if takes_group
        else api_session.Resource.check_presets()
    )
    groups = api_session.ScalingGroup.list_available("default")
    print(json.dumps({"presets": presets, "checked": checked, "groups": groups}))
