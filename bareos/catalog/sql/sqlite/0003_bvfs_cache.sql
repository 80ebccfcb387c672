-- bareos-twisted catalog for SQLite, schema step 0003: the bvfs cache (browsing backups by directory).
--
-- The console's bvfs commands (.bvfs_update, .bvfs_lsdirs, ...; the WebUI's restore browser)
-- and Bareos' own tools find these tables under Bareos' names:
--
-- PathHierarchy: each directory's parent directory (PPathId), so that the subdirectories of
--   a directory are one indexed lookup.  Parents of backed-up directories ("/", "/etc/" of
--   "/etc/ssh/", and the root "" above "/") are added to Path when the cache is built.
-- PathVisibility: which directories a job holds something below; a directory is listed for
--   a set of jobs when one of them sees it.
-- Job.HasCache (from step 0001) says whether a job's rows are in PathVisibility
--   (0 no, -1 being built, 1 yes).
--
-- A restore list made by .bvfs_restore is a table of its own named b2<number> (Bareos' name),
-- created and dropped by the console commands, never by this script.

CREATE TABLE PathHierarchy (
    PathId  integer NOT NULL PRIMARY KEY,
    PPathId integer NOT NULL
);
CREATE INDEX pathhierarchy_ppathid_idx ON PathHierarchy (PPathId);

CREATE TABLE PathVisibility (
    PathId integer NOT NULL,
    JobId  integer NOT NULL,
    Size   integer NOT NULL DEFAULT 0,
    Files  integer NOT NULL DEFAULT 0,
    PRIMARY KEY (JobId, PathId)
);
CREATE INDEX pathvisibility_pathid_idx ON PathVisibility (PathId);
