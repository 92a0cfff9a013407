-- migration normalize_history_device_ids (guard: recorded as migration_normalize_history_device_ids_applied)
UPDATE task_description_history SET device_id = lower(device_id) WHERE device_id IS NOT NULL AND device_id <> lower(device_id);
UPDATE file_selection_history SET device_id = lower(device_id) WHERE device_id IS NOT NULL AND device_id <> lower(device_id);
