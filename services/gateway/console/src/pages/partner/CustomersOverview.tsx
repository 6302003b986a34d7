// The partner's customers: the overview table at `#/customers`, one
// customer's details at `#/customers/{uuid}`.
import { route } from "../../router";
import { session } from "../../session";
import { CustomerDetails } from "./CustomerDetails";
import { Overview } from "./Overview";
import "./partner.css";

export function CustomersOverview() {
  const partner = session.value?.organization;
  if (!partner) return null;
  const customer = route.value.path[1];
  return customer ? (
    <CustomerDetails key={customer} partner={partner} customerId={customer} />
  ) : (
    <Overview partner={partner} />
  );
}
