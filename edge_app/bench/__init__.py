"""Measurement tools beside the app (``sentinel bench ...``): they drive the real pipeline and
analyser and print figures; nothing in the app imports them."""
