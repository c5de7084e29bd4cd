-- spec/upgrade-2.sql - store format 1 to 2 (spec/store.md, "Format versions").
--
-- Packages of the built-in feeds get their Ids from the allocator
-- ("Packages-7"), where format 1 made them of the package's name and
-- version ("packages-Acme.Web.1.4.2": unique per server while a package
-- version is one per feed, and ambiguous), and their files are kept per
-- feed in the home directory.
--
-- `om-store upgrade` runs this in one transaction, after creating the
-- temporary table om_upgrade_files (from_path, to_path), and sets
-- server.store_format to 2 itself.  The rows this step puts there are the
-- home files that move: om-store links each to its new path before the
-- commit and removes the old path after it.

-- The derived-Id rule of format 1 goes.
ALTER TABLE packages DROP CONSTRAINT packages_check;

-- The files move first, while the documents still hold their old layout.
INSERT INTO om_upgrade_files (from_path, to_path)
SELECT 'Packages/' || package_id || '/' || package_id || '.' || version
	       || coalesce(doc->>'FileExtension', ''),
       'Packages/' || feed_id || '/' || package_id || '/' || package_id || '.' || version
	       || coalesce(doc->>'FileExtension', '')
FROM packages;

-- New Ids in the order the packages were published (then of their old
-- Ids), as the allocator would have handed them out when each was pushed.
-- Nothing refers to a package by its Id.
UPDATE packages p SET doc = jsonb_set(p.doc, '{Id}', to_jsonb('Packages-' || n.num))
FROM (SELECT id, row_number() OVER (ORDER BY doc->>'Published' COLLATE "C",
					 id COLLATE "C") AS num
      FROM packages) n
WHERE p.id = n.id;

INSERT INTO id_allocator (kind, prefix, table_name, next_value)
SELECT 'Package', 'Packages-', 'packages', count(*) + 1 FROM packages;
