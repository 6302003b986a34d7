-- An upload's computers, inserted or updated (see ingest.rs).
INSERT INTO computers AS c
    (customer_id, id, hostname, node_id, kind, processors, cores,
     last_scan_time, inactive, revision, create_time, update_time,
     operating_system, manufacturer, model, machine, ip_address)
SELECT $1, t.id, t.hostname, t.node_id, t.kind, t.processors, t.cores,
       $2, false, 1, $3, $3, t.operating_system, t.manufacturer, t.model,
       t.machine, t.ip_address
FROM unnest($4::uuid[], $5::text[], $6::uuid[], $7::text[], $8::int[], $9::int[],
            $10::text[], $11::text[], $12::text[], $13::text[], $14::text[])
     AS t(id, hostname, node_id, kind, processors, cores, operating_system,
          manufacturer, model, machine, ip_address)
-- One lock order for every upload: two uploads of the
-- same computers never deadlock.
ORDER BY t.hostname
ON CONFLICT (customer_id, hostname) DO UPDATE
SET node_id = excluded.node_id, kind = excluded.kind,
    processors = excluded.processors, cores = excluded.cores,
    operating_system = excluded.operating_system,
    manufacturer = excluded.manufacturer, model = excluded.model,
    machine = excluded.machine, ip_address = excluded.ip_address,
    last_scan_time = greatest(c.last_scan_time, excluded.last_scan_time),
    revision = c.revision + 1, update_time = excluded.update_time
RETURNING hostname, id, (xmax = 0) AS inserted
