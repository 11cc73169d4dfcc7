-- Bearer tokens (jeeves_control_tower/tokens.py): only each secret's SHA-256 is stored. The same
-- text on both dialects; each statement stands alone, so it is safe through a DatabaseProtocol
-- object too.

-- name: insert_token
INSERT INTO jeeves_api_tokens (id, token_hash, user_id, role, created_at, groups)
VALUES (:id, :token_hash, :user_id, :role, :created_at, :groups) RETURNING id;

-- name: token_by_hash
SELECT * FROM jeeves_api_tokens WHERE token_hash = :token_hash;

-- name: list_tokens
SELECT * FROM jeeves_api_tokens ORDER BY created_at, id;

-- name: revoke_token
UPDATE jeeves_api_tokens SET revoked_at = :at WHERE id = :id AND revoked_at IS NULL RETURNING *;
