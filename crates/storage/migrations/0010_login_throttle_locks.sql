-- Growing lock-outs (storage::throttle): how many times in a row this key was locked. Each
-- lock lasts twice the one before (up to 16 times the policy's), so a guesser who waits
-- every lock out gets fewer and fewer guesses per day; a day without a lock, or a correct
-- password (which deletes an account's row), starts again from one.
ALTER TABLE login_throttle ADD COLUMN locks integer NOT NULL DEFAULT 0;
