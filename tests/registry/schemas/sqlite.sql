-- table checkpoints
CREATE TABLE checkpoints (
	id INTEGER NOT NULL,
	run_id VARCHAR(32) NOT NULL,
	step INTEGER NOT NULL,
	path TEXT NOT NULL,
	sha256 VARCHAR(64) NOT NULL,
	size BIGINT NOT NULL,
	eval_loss DOUBLE,
	best BOOLEAN NOT NULL,
	created_at DATETIME NOT NULL,
	CONSTRAINT fk_checkpoints_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id),
	CONSTRAINT pk_checkpoints PRIMARY KEY (id),
	CONSTRAINT uq_checkpoints_run_id_step UNIQUE (run_id, step)
);

-- table dataset_version_splits
CREATE TABLE dataset_version_splits (
	dataset_version_id INTEGER NOT NULL,
	flare_dataset VARCHAR(200) NOT NULL,
	category VARCHAR(100) NOT NULL,
	split VARCHAR(100) NOT NULL,
	count INTEGER NOT NULL,
	task_types JSON NOT NULL,
	fingerprint VARCHAR(128) NOT NULL,
	CONSTRAINT fk_dataset_version_splits_dataset_version_id_dataset_versions FOREIGN KEY(dataset_version_id) REFERENCES dataset_versions (id),
	CONSTRAINT pk_dataset_version_splits PRIMARY KEY (dataset_version_id, flare_dataset, category, split)
);

-- table dataset_versions
CREATE TABLE dataset_versions (
	id INTEGER NOT NULL,
	name VARCHAR(100) NOT NULL,
	version INTEGER NOT NULL,
	root TEXT NOT NULL,
	description TEXT,
	license VARCHAR(200),
	credentialed BOOLEAN NOT NULL,
	content_hash VARCHAR(64) NOT NULL,
	created_at DATETIME NOT NULL,
	CONSTRAINT pk_dataset_versions PRIMARY KEY (id),
	CONSTRAINT uq_dataset_versions_name_content_hash UNIQUE (name, content_hash),
	CONSTRAINT uq_dataset_versions_name_version UNIQUE (name, version)
);

-- table datasets
CREATE TABLE datasets (
	id INTEGER NOT NULL,
	name VARCHAR(200) NOT NULL,
	split VARCHAR(100) NOT NULL,
	fingerprint VARCHAR(128) NOT NULL,
	size INTEGER NOT NULL,
	created_at DATETIME NOT NULL,
	CONSTRAINT pk_datasets PRIMARY KEY (id),
	CONSTRAINT uq_datasets_name_split_fingerprint UNIQUE (name, split, fingerprint)
);

-- table external_models
CREATE TABLE external_models (
	id INTEGER NOT NULL,
	repo VARCHAR(200) NOT NULL,
	revision VARCHAR(100) NOT NULL,
	local_path TEXT NOT NULL,
	recipe_yaml TEXT,
	registered_at DATETIME NOT NULL,
	CONSTRAINT pk_external_models PRIMARY KEY (id),
	CONSTRAINT uq_external_models_repo_revision UNIQUE (repo, revision)
);

-- table green_flare_components
CREATE TABLE green_flare_components (
	id INTEGER NOT NULL,
	run_id VARCHAR(32) NOT NULL,
	checkpoint_id INTEGER,
	split VARCHAR(100) NOT NULL,
	n INTEGER NOT NULL,
	entity_matching DOUBLE,
	location_accuracy DOUBLE,
	negation_handling DOUBLE,
	temporal_accuracy DOUBLE,
	measurement_accuracy DOUBLE,
	clinical_significance DOUBLE,
	structure_completeness DOUBLE,
	severity_correlation DOUBLE,
	overall DOUBLE,
	logged_at DATETIME NOT NULL,
	CONSTRAINT fk_green_flare_components_checkpoint_id_checkpoints FOREIGN KEY(checkpoint_id) REFERENCES checkpoints (id),
	CONSTRAINT fk_green_flare_components_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id),
	CONSTRAINT pk_green_flare_components PRIMARY KEY (id)
);

-- table latest_metrics
CREATE TABLE latest_metrics (
	run_id VARCHAR(32) NOT NULL,
	name VARCHAR(100) NOT NULL,
	value DOUBLE NOT NULL,
	split VARCHAR(100) NOT NULL,
	metric_id INTEGER NOT NULL,
	CONSTRAINT fk_latest_metrics_metric_id_metrics FOREIGN KEY(metric_id) REFERENCES metrics (id),
	CONSTRAINT fk_latest_metrics_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id),
	CONSTRAINT pk_latest_metrics PRIMARY KEY (run_id, name)
);

-- table metrics
CREATE TABLE metrics (
	id INTEGER NOT NULL,
	run_id VARCHAR(32) NOT NULL,
	checkpoint_id INTEGER,
	split VARCHAR(100) NOT NULL,
	name VARCHAR(100) NOT NULL,
	value DOUBLE NOT NULL,
	n INTEGER,
	step INTEGER,
	logged_at DATETIME NOT NULL,
	CONSTRAINT fk_metrics_checkpoint_id_checkpoints FOREIGN KEY(checkpoint_id) REFERENCES checkpoints (id),
	CONSTRAINT fk_metrics_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id),
	CONSTRAINT pk_metrics PRIMARY KEY (id)
);

-- table model_alias_events
CREATE TABLE model_alias_events (
	id INTEGER NOT NULL,
	registered_model_id INTEGER NOT NULL,
	alias VARCHAR(100) NOT NULL,
	old_version INTEGER,
	new_version INTEGER,
	set_by VARCHAR(200) NOT NULL,
	set_at DATETIME NOT NULL,
	CONSTRAINT fk_model_alias_events_registered_model_id_registered_models FOREIGN KEY(registered_model_id) REFERENCES registered_models (id),
	CONSTRAINT pk_model_alias_events PRIMARY KEY (id)
);

-- table model_aliases
CREATE TABLE model_aliases (
	registered_model_id INTEGER NOT NULL,
	alias VARCHAR(100) NOT NULL,
	version INTEGER NOT NULL,
	set_by VARCHAR(200) NOT NULL,
	set_at DATETIME NOT NULL,
	CONSTRAINT fk_model_aliases_registered_model_id_registered_models FOREIGN KEY(registered_model_id) REFERENCES registered_models (id),
	CONSTRAINT pk_model_aliases PRIMARY KEY (registered_model_id, alias)
);

-- table model_versions
CREATE TABLE model_versions (
	id INTEGER NOT NULL,
	registered_model_id INTEGER NOT NULL,
	version INTEGER NOT NULL,
	base_model VARCHAR(300) NOT NULL,
	base_revision VARCHAR(100),
	source TEXT NOT NULL,
	run_id VARCHAR(32),
	external_model_id INTEGER,
	adapter_path TEXT NOT NULL,
	files JSON NOT NULL,
	recipe_yaml TEXT,
	dataset_version_id INTEGER,
	results JSON NOT NULL,
	description TEXT,
	created_at DATETIME NOT NULL,
	CONSTRAINT fk_model_versions_dataset_version_id_dataset_versions FOREIGN KEY(dataset_version_id) REFERENCES dataset_versions (id),
	CONSTRAINT fk_model_versions_external_model_id_external_models FOREIGN KEY(external_model_id) REFERENCES external_models (id),
	CONSTRAINT fk_model_versions_registered_model_id_registered_models FOREIGN KEY(registered_model_id) REFERENCES registered_models (id),
	CONSTRAINT fk_model_versions_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id),
	CONSTRAINT pk_model_versions PRIMARY KEY (id),
	CONSTRAINT uq_model_versions_registered_model_id_version UNIQUE (registered_model_id, version)
);

-- table predictions
CREATE TABLE predictions (
	id INTEGER NOT NULL,
	run_id VARCHAR(32) NOT NULL,
	checkpoint_id INTEGER,
	split VARCHAR(100) NOT NULL,
	sample_id VARCHAR(200) NOT NULL,
	question TEXT,
	prediction TEXT NOT NULL,
	reference TEXT,
	green_flare DOUBLE,
	scores JSON NOT NULL, image_paths JSON, study_id VARCHAR(200),
	CONSTRAINT fk_predictions_checkpoint_id_checkpoints FOREIGN KEY(checkpoint_id) REFERENCES checkpoints (id),
	CONSTRAINT fk_predictions_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id),
	CONSTRAINT pk_predictions PRIMARY KEY (id),
	CONSTRAINT uq_predictions_run_id_split_sample_id UNIQUE (run_id, split, sample_id)
);

-- table publications
CREATE TABLE publications (
	id INTEGER NOT NULL,
	run_id VARCHAR(32) NOT NULL,
	repo VARCHAR(200) NOT NULL,
	revision VARCHAR(100) NOT NULL,
	url TEXT NOT NULL,
	published_at DATETIME NOT NULL,
	CONSTRAINT fk_publications_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id),
	CONSTRAINT pk_publications PRIMARY KEY (id)
);

-- table recipe_versions
CREATE TABLE recipe_versions (
	id INTEGER NOT NULL,
	name VARCHAR(100) NOT NULL,
	version INTEGER NOT NULL,
	hash VARCHAR(64) NOT NULL,
	yaml_text TEXT NOT NULL,
	created_at DATETIME NOT NULL,
	CONSTRAINT pk_recipe_versions PRIMARY KEY (id),
	CONSTRAINT uq_recipe_versions_name_version UNIQUE (name, version)
);

-- table registered_models
CREATE TABLE registered_models (
	id INTEGER NOT NULL,
	name VARCHAR(100) NOT NULL,
	description TEXT,
	created_at DATETIME NOT NULL,
	CONSTRAINT pk_registered_models PRIMARY KEY (id),
	CONSTRAINT uq_registered_models_name UNIQUE (name)
);

-- table rrg_alembic_version
CREATE TABLE rrg_alembic_version (
	version_num VARCHAR(32) NOT NULL,
	CONSTRAINT rrg_alembic_version_pkc PRIMARY KEY (version_num)
);

-- table run_datasets
CREATE TABLE run_datasets (
	run_id VARCHAR(32) NOT NULL,
	dataset_id INTEGER NOT NULL,
	CONSTRAINT fk_run_datasets_dataset_id_datasets FOREIGN KEY(dataset_id) REFERENCES datasets (id),
	CONSTRAINT fk_run_datasets_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id),
	CONSTRAINT pk_run_datasets PRIMARY KEY (run_id, dataset_id)
);

-- table run_tags
CREATE TABLE run_tags (
	run_id VARCHAR(32) NOT NULL,
	tag VARCHAR(200) NOT NULL,
	CONSTRAINT fk_run_tags_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id),
	CONSTRAINT pk_run_tags PRIMARY KEY (run_id, tag)
);

-- table runs
CREATE TABLE "runs" (
	id VARCHAR(32) NOT NULL,
	recipe_version_id INTEGER NOT NULL,
	stage VARCHAR(32) NOT NULL,
	model_family VARCHAR(64) NOT NULL,
	model_id VARCHAR(300) NOT NULL,
	model_revision VARCHAR(100),
	adapter VARCHAR(32),
	status VARCHAR(16) NOT NULL,
	host VARCHAR(200),
	seed INTEGER,
	package_versions JSON NOT NULL,
	"plan" JSON,
	parent_run_id VARCHAR(32),
	created_at DATETIME NOT NULL,
	started_at DATETIME,
	ended_at DATETIME,
	heartbeat_at DATETIME,
	error TEXT,
	external_model_id INTEGER,
	dataset_version_id INTEGER,
	CONSTRAINT ck_runs_status CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'interrupted')),
	CONSTRAINT fk_runs_dataset_version_id_dataset_versions FOREIGN KEY(dataset_version_id) REFERENCES dataset_versions (id),
	CONSTRAINT fk_runs_external_model_id_external_models FOREIGN KEY(external_model_id) REFERENCES external_models (id),
	CONSTRAINT fk_runs_parent_run_id_runs FOREIGN KEY(parent_run_id) REFERENCES runs (id),
	CONSTRAINT fk_runs_recipe_version_id_recipe_versions FOREIGN KEY(recipe_version_id) REFERENCES recipe_versions (id),
	CONSTRAINT pk_runs PRIMARY KEY (id)
);

-- index ix_green_flare_components_run_id
CREATE INDEX ix_green_flare_components_run_id ON green_flare_components (run_id);

-- index ix_latest_metrics_name_value
CREATE INDEX ix_latest_metrics_name_value ON latest_metrics (name, value);

-- index ix_metrics_run_id_name
CREATE INDEX ix_metrics_run_id_name ON metrics (run_id, name);

-- index ix_model_alias_events_registered_model_id
CREATE INDEX ix_model_alias_events_registered_model_id ON model_alias_events (registered_model_id);

-- index ix_model_versions_run_id
CREATE INDEX ix_model_versions_run_id ON model_versions (run_id);

-- index ix_predictions_study_id
CREATE INDEX ix_predictions_study_id ON predictions (study_id);

-- index ix_publications_run_id
CREATE INDEX ix_publications_run_id ON publications (run_id);

-- index ix_run_tags_tag
CREATE INDEX ix_run_tags_tag ON run_tags (tag);

-- index ix_runs_created_at
CREATE INDEX ix_runs_created_at ON runs (created_at);

-- index ix_runs_dataset_version_id
CREATE INDEX ix_runs_dataset_version_id ON runs (dataset_version_id);

-- index ix_runs_parent_run_id
CREATE INDEX ix_runs_parent_run_id ON runs (parent_run_id);

-- index ix_runs_recipe_version_id
CREATE INDEX ix_runs_recipe_version_id ON runs (recipe_version_id);

-- index ix_runs_status_heartbeat_at
CREATE INDEX ix_runs_status_heartbeat_at ON runs (status, heartbeat_at);
