/** A row id as we issue them (lower or upper case): what a path, a CLI argument or a JWT subject must be before it reaches a query. */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
