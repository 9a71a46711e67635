#!/usr/bin/env bash
# Reference solution of lab 9.
# ANCHOR: all
set -euo pipefail
# ANCHOR: dev
pier run --name lab9-dev -e APP_MODE=dev -e APP_PORT=8080 lab9-app sh -c 'echo mode=$APP_MODE port=$APP_PORT'
# ANCHOR_END: dev
# ANCHOR: prod
D=$(pier lab dir 9)
printf 'APP_MODE=prod\nAPP_PORT=80\n' > "$D"/prod.env
pier run --name lab9-prod --env-file "$D"/prod.env lab9-app sh -c 'echo mode=$APP_MODE port=$APP_PORT'
# ANCHOR_END: prod
# ANCHOR: same
pier inspect lab9-dev lab9-prod | grep '"image_id"'
# ANCHOR_END: same
pier lab answer 9 image "$(pier inspect lab9-dev | grep '"image_id"' | head -n 1 | cut -d'"' -f4)"
# ANCHOR: live
pier run -d --name lab9-live -e APP_MODE=live lab9-app sleep 3600
pier exec lab9-live env
# ANCHOR_END: live
pier lab answer 9 path "$(pier exec lab9-live sh -c 'echo $PATH')"
pier lab check 9
# ANCHOR_END: all
