-- Stores a license (see db/licenses.rs).
INSERT INTO licenses AS l
    (customer_id, id, application_id, family_id, metric, assignment_type, quantity,
     unlimited, legal_owner_id, purchase_date, price_currency, price_amount_minor,
     vendor, invoice_reference, custom_fields, automatic_allocation,
     downgrade_rights, subscription_start, subscription_end, agreement_id,
     incomplete, missing_fields, archived, request_id, revision, create_time,
     update_time, minimum_per_computer)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
        $17, $18, $19, $20, cardinality($21::text[]) > 0, $21, false, $22, 1, $23, $23,
        $24)
ON CONFLICT (customer_id, id) DO UPDATE
SET application_id = excluded.application_id, family_id = excluded.family_id,
    metric = excluded.metric, assignment_type = excluded.assignment_type,
    quantity = excluded.quantity, unlimited = excluded.unlimited,
    legal_owner_id = excluded.legal_owner_id,
    purchase_date = excluded.purchase_date,
    price_currency = excluded.price_currency,
    price_amount_minor = excluded.price_amount_minor,
    vendor = excluded.vendor, invoice_reference = excluded.invoice_reference,
    custom_fields = excluded.custom_fields,
    automatic_allocation = excluded.automatic_allocation,
    downgrade_rights = excluded.downgrade_rights,
    minimum_per_computer = excluded.minimum_per_computer,
    subscription_start = excluded.subscription_start,
    subscription_end = excluded.subscription_end,
    agreement_id = excluded.agreement_id, incomplete = excluded.incomplete,
    missing_fields = excluded.missing_fields, revision = l.revision + 1,
    update_time = excluded.update_time
