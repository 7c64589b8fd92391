"""VFolder example (the SDK's ``VFolder`` functional API, unchanged calls).

    vfolders.py NAME FILE...   (run in the folder that holds FILE...)

Creates vfolder NAME, uploads the files, lists the folder, downloads the files into
``./downloaded`` and deletes the vfolder; prints one JSON document with every answer.
"""

import json
import os
import sys
from pathlib import Path

from ai.backend.client.session import Session

name, files = sys.argv[1], sys.argv[2:]
with Session() as api_session:
    created = api_session.VFolder.create(name)
    listed = api_session.VFolder.list()
    folder = api_session.VFolder(name)
    folder.upload(files)
    listing = folder.list_files(".")
    target = Path("downloaded")
    target.mkdir()
    folder.download(files, basedir=target)
    sizes = {f: os.path.getsize(target / f) for f in files}
    api_session.VFolder(name).delete()
    after = [f["name"] for f in api_session.VFolder.list()]
    print(
        json.dumps(
            {
                "created": created,
                "listed": listed,
                "files": listing,
                "downloaded": sizes,
                "after": after,
            },
            default=str,
        )
    )
