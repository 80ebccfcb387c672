-- bareos-twisted catalog for SQLite, schema step 0001: the first tables.
--
-- Written for this project from the table and column names listed in
-- docs/PROTOCOL.md section 9, so that administrators find Job, File, Path, Media ...
-- where they expect them.  It is not the Bareos schema: column types, constraints
-- and the numbering of the Version table are our own (VersionId counts our
-- NNNN_*.sql steps, it is not Bareos' 2250).
--
-- Times are text 'YYYY-MM-DD HH:MM:SS' (local time, as Bareos keeps them).
--
-- The File table has no foreign keys on purpose: it receives millions of rows
-- in batches, and the catalog code only inserts File rows of an existing job and
-- with PathIds taken from Path in the same statement.

CREATE TABLE Version (
    VersionId integer NOT NULL
);

CREATE TABLE Client (
    ClientId      INTEGER PRIMARY KEY AUTOINCREMENT,
    Name          text NOT NULL UNIQUE,
    UName         text NOT NULL DEFAULT '',
    AutoPrune     integer NOT NULL DEFAULT 0,
    FileRetention integer NOT NULL DEFAULT 0,
    JobRetention  integer NOT NULL DEFAULT 0
);

CREATE TABLE FileSet (
    FileSetId   INTEGER PRIMARY KEY AUTOINCREMENT,
    FileSet     text NOT NULL,
    FileSetText text NOT NULL DEFAULT '',
    MD5         text NOT NULL DEFAULT '',
    CreateTime  text,
    UNIQUE (FileSet, MD5)
);

CREATE TABLE Storage (
    StorageId   INTEGER PRIMARY KEY AUTOINCREMENT,
    Name        text NOT NULL UNIQUE,
    AutoChanger integer NOT NULL DEFAULT 0
);

CREATE TABLE Pool (
    PoolId         INTEGER PRIMARY KEY AUTOINCREMENT,
    Name           text NOT NULL UNIQUE,
    NumVols        integer NOT NULL DEFAULT 0,
    MaxVols        integer NOT NULL DEFAULT 0,
    UseCatalog     integer NOT NULL DEFAULT 1,
    VolRetention   integer NOT NULL DEFAULT 0,
    VolUseDuration integer NOT NULL DEFAULT 0,
    MaxVolJobs     integer NOT NULL DEFAULT 0,
    MaxVolFiles    integer NOT NULL DEFAULT 0,
    MaxVolBytes    integer NOT NULL DEFAULT 0,
    AutoPrune      integer NOT NULL DEFAULT 1,
    Recycle        integer NOT NULL DEFAULT 1,
    PoolType       text NOT NULL DEFAULT 'Backup'
                   CHECK (PoolType IN ('Backup', 'Copy', 'Cloned', 'Archive', 'Migration', 'Scratch')),
    LabelType      integer NOT NULL DEFAULT 0,
    LabelFormat    text,
    Enabled        integer NOT NULL DEFAULT 1,
    NextPoolId     integer
);

CREATE TABLE Media (
    MediaId          INTEGER PRIMARY KEY AUTOINCREMENT,
    VolumeName       text NOT NULL UNIQUE,
    Slot             integer NOT NULL DEFAULT 0,
    PoolId           integer REFERENCES Pool (PoolId),
    MediaType        text NOT NULL,
    LabelType        integer NOT NULL DEFAULT 0,
    FirstWritten     text,
    LastWritten      text,
    LabelDate        text,
    VolJobs          integer NOT NULL DEFAULT 0,
    VolFiles         integer NOT NULL DEFAULT 0,
    VolBlocks        integer NOT NULL DEFAULT 0,
    VolMounts        integer NOT NULL DEFAULT 0,
    VolBytes         integer NOT NULL DEFAULT 0,
    VolErrors        integer NOT NULL DEFAULT 0,
    VolWrites        integer NOT NULL DEFAULT 0,
    VolCapacityBytes integer NOT NULL DEFAULT 0,
    VolStatus        text NOT NULL DEFAULT 'Append'
                     CHECK (VolStatus IN ('Unlabeled', 'Full', 'Archive', 'Append', 'Recycle',
                                          'Purged', 'Read-Only', 'Disabled', 'Error', 'Busy',
                                          'Used', 'Cleaning', 'Scratch')),
    Enabled          integer NOT NULL DEFAULT 1,
    Recycle          integer NOT NULL DEFAULT 1,
    VolRetention     integer NOT NULL DEFAULT 0,
    VolUseDuration   integer NOT NULL DEFAULT 0,
    MaxVolJobs       integer NOT NULL DEFAULT 0,
    MaxVolFiles      integer NOT NULL DEFAULT 0,
    MaxVolBytes      integer NOT NULL DEFAULT 0,
    InChanger        integer NOT NULL DEFAULT 0,
    StorageId        integer REFERENCES Storage (StorageId),
    EndFile          integer NOT NULL DEFAULT 0,
    EndBlock         integer NOT NULL DEFAULT 0,
    VolReadTime      integer NOT NULL DEFAULT 0,
    VolWriteTime     integer NOT NULL DEFAULT 0,
    MinBlockSize     integer NOT NULL DEFAULT 0,
    MaxBlockSize     integer NOT NULL DEFAULT 0,
    EncryptionKey    text,
    Comment          text
);
CREATE INDEX media_poolid_idx ON Media (PoolId);

CREATE TABLE Job (
    JobId           INTEGER PRIMARY KEY AUTOINCREMENT,
    Job             text NOT NULL UNIQUE,
    Name            text NOT NULL,
    Type            text NOT NULL CHECK (length(Type) = 1),
    Level           text NOT NULL CHECK (length(Level) = 1),
    ClientId        integer REFERENCES Client (ClientId),
    JobStatus       text NOT NULL CHECK (length(JobStatus) = 1),
    SchedTime       text,
    StartTime       text,
    EndTime         text,
    RealEndTime     text,
    JobTDate        integer NOT NULL DEFAULT 0,
    VolSessionId    integer NOT NULL DEFAULT 0,
    VolSessionTime  integer NOT NULL DEFAULT 0,
    JobFiles        integer NOT NULL DEFAULT 0,
    JobBytes        integer NOT NULL DEFAULT 0,
    ReadBytes       integer NOT NULL DEFAULT 0,
    JobErrors       integer NOT NULL DEFAULT 0,
    JobMissingFiles integer NOT NULL DEFAULT 0,
    PoolId          integer REFERENCES Pool (PoolId),
    FileSetId       integer REFERENCES FileSet (FileSetId),
    PriorJobId      integer,
    PurgedFiles     integer NOT NULL DEFAULT 0,
    HasBase         integer NOT NULL DEFAULT 0,
    HasCache        integer NOT NULL DEFAULT 0,
    Reviewed        integer NOT NULL DEFAULT 0,
    Comment         text
);
CREATE INDEX job_name_idx ON Job (Name);
CREATE INDEX job_client_start_idx ON Job (ClientId, StartTime);

CREATE TABLE JobMedia (
    JobMediaId INTEGER PRIMARY KEY AUTOINCREMENT,
    JobId      integer NOT NULL REFERENCES Job (JobId),
    MediaId    integer NOT NULL REFERENCES Media (MediaId),
    FirstIndex integer NOT NULL DEFAULT 0,
    LastIndex  integer NOT NULL DEFAULT 0,
    StartFile  integer NOT NULL DEFAULT 0,
    EndFile    integer NOT NULL DEFAULT 0,
    StartBlock integer NOT NULL DEFAULT 0,
    EndBlock   integer NOT NULL DEFAULT 0,
    JobBytes   integer NOT NULL DEFAULT 0,
    VolIndex   integer NOT NULL DEFAULT 0
);
CREATE INDEX jobmedia_job_media_idx ON JobMedia (JobId, MediaId);
CREATE INDEX jobmedia_media_idx ON JobMedia (MediaId);

CREATE TABLE Path (
    PathId INTEGER PRIMARY KEY,
    Path   text NOT NULL UNIQUE
);

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
    Name      text NOT NULL
);
CREATE INDEX file_jobid_pathid_name_idx ON File (JobId, PathId, Name);

CREATE TABLE Log (
    LogId   INTEGER PRIMARY KEY AUTOINCREMENT,
    JobId   integer NOT NULL REFERENCES Job (JobId),
    Time    text,
    LogText text NOT NULL
);
CREATE INDEX log_jobid_idx ON Log (JobId);
