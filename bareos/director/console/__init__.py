"""The director's console server (channels 1, 2 and the tray monitor's 9).

``session`` authenticates a console and runs its command loop in the api mode
it chose; ``commands`` holds the command table; ``output`` renders one
command's reply for api 0, 1 and 2; ``status`` formats ``status director``.
"""
