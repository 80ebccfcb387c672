-- bareos-twisted catalog for SQLite, schema step 0002: path and file names as bytes.
--
-- A file name is any byte string without NUL; it need not be UTF-8 (b'caf\xe9' written
-- by a Latin-1 system).  Bareos keeps names as bytes, and so do we now: Path.Path and
-- File.Name are BLOBs, compared byte by byte.  The catalog code binds bytes for them
-- and decodes what it reads (bareos.catalog.api.name_bytes / name_text).
--
-- SQLite cannot change a column's type, so both tables are rebuilt with the same ids;
-- CAST(... AS BLOB) keeps the UTF-8 bytes of the text already stored.  Names of files
-- that were not UTF-8 and were stored before this step keep the spelling the old code
-- gave them (backslash escapes such as "caf\xe9"): their bytes cannot be told apart
-- from a real backslash, so they are left as they are.

ALTER TABLE Path RENAME TO Path_text;
CREATE TABLE Path (
    PathId INTEGER PRIMARY KEY,
    Path   blob NOT NULL UNIQUE
);
INSERT INTO Path (PathId, Path) SELECT PathId, CAST(Path AS BLOB) FROM Path_text;
DROP TABLE Path_text;

ALTER TABLE File RENAME TO File_text;
CREATE TABLE File (
    FileId    INTEGER PRIMARY KEY,
    FileIndex integer NOT NULL DEFAULT 0,
    JobId     integer NOT NULL,
    PathId    integer NOT NULL,
    DeltaSeq  integer NOT NULL DEFAULT 0,
    MarkId    integer NOT NULL DEFAULT 0,
    Fhinfo    integer NOT NULL DEFAULT 0,
    Fhnode    integer NOT NULL DEFAULT 0,
    LStat     text NOT NULL,
    MD5       text NOT NULL,
    Name      blob NOT NULL
);
INSERT INTO File (FileId, FileIndex, JobId, PathId, DeltaSeq, MarkId, Fhinfo, Fhnode, LStat,
                  MD5, Name)
    SELECT FileId, FileIndex, JobId, PathId, DeltaSeq, MarkId, Fhinfo, Fhnode, LStat, MD5,
           CAST(Name AS BLOB) FROM File_text;
DROP TABLE File_text;
CREATE INDEX file_jobid_pathid_name_idx ON File (JobId, PathId, Name);
