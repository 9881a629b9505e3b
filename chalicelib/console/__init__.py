"""The web console (`GET /console`), served by the `api_handler` function.

What runs here: nothing but serving files. `site` answers `GET /console` with the page
(the user pool's app client and Cognito's endpoint written into it, a strict
Content-Security-Policy on it) and `GET /console/{asset}` with its script, style sheet
and icon (`static/`). The page needs no token; the script signs the person in with
Cognito (USER_PASSWORD_AUTH, then REFRESH_TOKEN_AUTH) and reads and changes everything
through the API with their ID token, so every rule and message is the API's.

It may touch: the settings (`config`) and the error vocabulary (`errors`), nothing else:
no AWS client, no table. docs/console.md describes the page; its files ship in the
Lambda zip (keep them small: bench/lambda_package.py measures the zip).
"""
