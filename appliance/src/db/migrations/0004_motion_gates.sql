-- Migration 4: motion gates. What each camera's gates have learnt, and how many keyframes of
-- each recording were decoded and sent to the face detector (the rest were skipped).

ALTER TABLE cameras ADD COLUMN motion_state TEXT;
ALTER TABLE recordings ADD COLUMN keyframes_decoded INTEGER;
ALTER TABLE recordings ADD COLUMN keyframes_detected INTEGER;
ALTER TABLE tasks ADD COLUMN keyframes_decoded INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN keyframes_detected INTEGER NOT NULL DEFAULT 0;
