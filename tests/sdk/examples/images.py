"""Image example (the SDK's ``Image.list``, unchanged call): the images a user may pick.

Prints one JSON document.
"""

import json

from ai.backend.client.session import Session

with Session() as api_session:
    print(json.dumps({"images": list(api_session.Image.list())}))
