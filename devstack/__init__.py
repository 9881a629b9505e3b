"""The local stack: the whole product on one machine, AWS played by moto (`make run`).

Never shipped to Lambda: Chalice packages only app.py and chalicelib/.
"""
