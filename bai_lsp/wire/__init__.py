"""What the Backend.AI client and the embedded gateway agree on, byte for byte.

This is the only package the two sides share: signing, API versions, problem types and
the JSON shapes of requests and results. Neither side's behaviour lives here.
"""
